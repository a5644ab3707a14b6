package tail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/zmqlog/zmqlog/internal/zcert"
	"github.com/zmqlog/zmqlog/internal/zsock"
	"github.com/zmqlog/zmqlog/topic"
	"github.com/zmqlog/zmqlog/wire"
)

// Source is where a tail's entries come from: the publishers it subscribes
// to (a collector's PUB port, or any ZeroMQ PUB of [topic, entry]
// messages), or, with Bind, a PULL socket producers send to directly, the
// tail then being the collector.
type Source struct {
	// Endpoints are the publishers to subscribe to, comma-separated
	// (tcp://127.0.0.1:5558). It re-dials and re-subscribes by itself
	// after a publisher restarts.
	Endpoints string
	// Bind, if set, is an endpoint to bind a PULL socket to instead.
	Bind string
	// Prefixes are the topic prefixes wanted (topic.AtLeast gives them
	// for a level); none means every topic. Publishers filter by them;
	// with Bind, Run filters, since a PULL cannot filter at the sender.
	Prefixes []string
	// Status, if set, is told of connection state, a line each change:
	// connected, lost, a peer dropped, and, with HeartbeatTimeout > 0, a
	// connected collector whose heartbeat has been missing that long, and
	// its return. Text from peers in it is escaped (TerminalSafe). Name,
	// if set, starts each line ("zmqtail: ").
	Status           io.Writer
	Name             string
	HeartbeatTimeout time.Duration
	// CurveServer and CurveSecret, given together, make the subscription
	// speak CURVE (RFC 26) to a collector started with --curve-secret:
	// the collector's public certificate (NAME.key) and this tail's
	// secret certificate (NAME.key_secret, mode 0600), as `zmqcollect
	// keygen` writes them. Not with Bind.
	CurveServer, CurveSecret string
}

// ErrCurve is wrapped by Run's error for CURVE settings it cannot use: a
// key file missing, malformed or readable by others, only one of the two
// files, or CURVE with Bind.
var ErrCurve = errors.New("CURVE")

// ErrEndpoint is wrapped by Run's error for a malformed endpoint.
var ErrEndpoint = errors.New("bad endpoint")

// Run calls fn with each entry's topic ("" for one that came without) and
// bytes until ctx ends, then returns nil. A collector's heartbeats
// (topic.Heartbeat) reach fn too, when Prefixes let them. It fails at once
// for a malformed endpoint (wrapping ErrEndpoint) or a Bind endpoint that
// cannot be bound.
func (s Source) Run(ctx context.Context, fn func(topic string, entry []byte)) error {
	curve, err := s.curve()
	if err != nil {
		return err
	}
	st := newStatus(s.Status, s.Name, s.HeartbeatTimeout)
	if s.Bind != "" {
		st.bound, st.timeout = true, 0 // producers send no heartbeats
		return s.runBind(ctx, st, fn)
	}
	return s.runSubscribe(ctx, st, curve, fn)
}

// curve reads the CURVE key files, if any.
func (s Source) curve() (*zsock.CurveConfig, error) {
	switch {
	case s.CurveServer == "" && s.CurveSecret == "":
		return nil, nil
	case s.CurveServer == "" || s.CurveSecret == "":
		return nil, fmt.Errorf("%w: needs both the collector's public certificate (NAME.key) and this tail's secret certificate (NAME.key_secret)", ErrCurve)
	case s.Bind != "":
		return nil, fmt.Errorf("%w: not available with Bind: a bound tail takes producers directly, with no key to check them against", ErrCurve)
	}
	server, err := zcert.LoadPublic(s.CurveServer)
	if err != nil {
		return nil, fmt.Errorf("%w: server key: %w", ErrCurve, err)
	}
	pair, err := zcert.LoadSecret(s.CurveSecret)
	if err != nil {
		return nil, fmt.Errorf("%w: client key: %w", ErrCurve, err)
	}
	return &zsock.CurveConfig{SecretKey: pair.Secret, ServerKey: server}, nil
}

// Follow subscribes to one or more publishers (comma-separated endpoints,
// such as a collector's tcp://127.0.0.1:5558) for topics starting with any
// of prefixes (all topics when there are none) and calls fn with each
// message's topic and entry until ctx ends. It is Source.Run with no
// status.
func Follow(ctx context.Context, endpoints string, prefixes []string, fn func(topic string, entry []byte)) error {
	return Source{Endpoints: endpoints, Prefixes: prefixes}.Run(ctx, fn)
}

func (s Source) runSubscribe(ctx context.Context, st *status, curve *zsock.CurveConfig, fn func(string, []byte)) error {
	eps, err := zsock.ParseEndpoints(s.Endpoints)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrEndpoint, err)
	}
	topics := []string{""}
	if len(s.Prefixes) > 0 {
		topics = s.Prefixes
		if st.timeout > 0 {
			topics = append(topics[:len(topics):len(topics)], topic.Heartbeat)
		}
	}
	sub := zsock.DialSub(eps, topics, zsock.Options{OnEvent: st.event, ReconnectMax: time.Second, Curve: curve})
	defer sub.Close()
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { defer close(watched); st.watch(watchCtx) }()
	defer func() { stopWatch(); <-watched }()
	for {
		m, err := sub.Recv(ctx)
		if err != nil {
			return nil // ctx ended
		}
		switch len(m.Frames) {
		case 1:
			fn("", m.Frames[0])
		case 2:
			t := string(m.Frames[0])
			if t == topic.Heartbeat {
				st.beat(m.Peer.Addr)
			}
			fn(t, m.Frames[1])
		}
	}
}

func (s Source) runBind(ctx context.Context, st *status, fn func(string, []byte)) error {
	ep, err := zsock.ParseEndpoint(s.Bind, true)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrEndpoint, err)
	}
	pull, err := zsock.ListenPull(ep, zsock.Options{OnEvent: st.event})
	if err != nil {
		return err
	}
	defer pull.Close()
	st.say("listening on %s", pull.Endpoint())
	for {
		m, err := pull.Recv(ctx)
		if err != nil {
			return nil
		}
		b, err := wire.Decode(m.Frames)
		if err != nil {
			st.say("skipped a message from %s: %s", TerminalSafe(m.Peer.Addr), errorText(err))
			continue
		}
		for tp, entry := range b.Entries() {
			if t := string(tp); len(s.Prefixes) == 0 || hasAnyPrefix(t, s.Prefixes) {
				fn(t, entry)
			}
		}
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
