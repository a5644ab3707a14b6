package zapzmq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/topic"
)

// The sink schemes, registered with zap when this package is imported.
const (
	SchemeTCP = "zmq+tcp"
	SchemeIPC = "zmq+ipc"
)

// openSinks lists the sinks zap opened through a config, for CloseSinks:
// zap.Config.Build keeps no way to close them.
var openSinks struct {
	sync.Mutex
	list []*sink
}

// CloseSinks flushes (each within 5s) and closes every sink zap opened
// from a zmq+tcp or zmq+ipc output path. zap.Config.Build gives no way to
// close sinks, so a program configured only through zap.Config calls this
// once before it exits, after logger.Sync. Sinks keep their connections
// until then.
func CloseSinks() error {
	openSinks.Lock()
	list := openSinks.list
	openSinks.list = nil
	openSinks.Unlock()
	var errs []error
	for _, s := range list {
		errs = append(errs, s.ship.Close())
	}
	return errors.Join(errs...)
}

func init() {
	for _, scheme := range []string{SchemeTCP, SchemeIPC} {
		// An error means the scheme is taken, by another copy of this
		// package in the binary; that copy serves it as well.
		_ = zap.RegisterSink(scheme, newSink)
	}
}

// sink ships what zap's ioCore writes to it: one encoded entry per Write.
// It only sees bytes, so it reads the level back from the entry: the
// value of the JSON level key (option levelKey, default "level"), or for
// console encoding the first tab-separated field that is a level name.
type sink struct {
	ship     *zmqlog.Shipper
	topics   *levelTopics // made once, as the core's
	unknown  string       // the topic of an entry whose level cannot be read
	levelKey []byte
	timeout  time.Duration
}

// newSink opens a sink for a URL such as
//
//	zmq+tcp://127.0.0.1:5557?app=checkout
//	zmq+ipc:///run/zmqlog.sock?app=checkout&levelKey=severity
//	zmq+tcp://logs.internal:5557?app=checkout&curve-server=/etc/zmqlog/collector.key&curve-secret=/etc/zmqlog/checkout.key_secret
//
// curve-server and curve-secret, given together, make it speak CURVE
// (see zmqlog.WithCurve).
func newSink(u *url.URL) (zap.Sink, error) {
	var endpoint string
	switch u.Scheme {
	case SchemeTCP:
		if u.Path != "" && u.Path != "/" {
			return nil, fmt.Errorf("zapzmq: sink %q: a tcp endpoint has no path", u)
		}
		endpoint = "tcp://" + u.Host
	case SchemeIPC:
		endpoint = "ipc://" + u.Host + u.Path
	}
	if u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("zapzmq: sink %q: user and fragment are not allowed", u)
	}
	q := u.Query()
	app := q.Get("app")
	s := &sink{topics: newLevelTopics(app), unknown: topic.Make("UNKNOWN", app), levelKey: []byte(`"level":"`), timeout: 5 * time.Second}
	if k := q.Get("levelKey"); k != "" {
		s.levelKey = []byte(`"` + k + `":"`)
	}
	for key := range q {
		switch key {
		case "app", "levelKey", "curve-server", "curve-secret":
		default:
			return nil, fmt.Errorf("zapzmq: sink %q: unknown parameter %q (want app, levelKey, curve-server or curve-secret)", u, key)
		}
	}
	var opts []zmqlog.Option
	if app != "" {
		opts = append(opts, zmqlog.WithApp(app))
	}
	server, secret := q.Get("curve-server"), q.Get("curve-secret")
	switch {
	case server != "" && secret != "":
		opts = append(opts, zmqlog.WithCurve(server, secret))
	case server != "" || secret != "":
		return nil, fmt.Errorf("zapzmq: sink %q: CURVE needs both curve-server (the collector's NAME.key) and curve-secret (this app's NAME.key_secret)", u)
	}
	ship, err := zmqlog.NewShipper(endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("zapzmq: sink %q: %w", u, err)
	}
	s.ship = ship
	openSinks.Lock()
	openSinks.list = append(openSinks.list, s)
	openSinks.Unlock()
	return s, nil
}

func (s *sink) Write(p []byte) (int, error) {
	entry := bytes.TrimSuffix(p, []byte("\n"))
	name := s.unknown
	if l, ok := s.levelOf(entry); ok {
		name = s.topics.of(l)
	}
	s.ship.Ship(name, entry)
	return len(p), nil
}

// levelOf finds the entry's level: the JSON level key's value, or a
// console line's level field.
func (s *sink) levelOf(entry []byte) (zapcore.Level, bool) {
	if i := bytes.Index(entry, s.levelKey); i >= 0 {
		v := entry[i+len(s.levelKey):]
		if j := bytes.IndexByte(v, '"'); j >= 0 {
			if l, err := zapcore.ParseLevel(string(v[:j])); err == nil {
				return l, true
			}
		}
	}
	for field := range bytes.SplitSeq(entry, []byte("\t")) {
		if len(field) > 0 && len(field) <= len("DPANIC") {
			if l, err := zapcore.ParseLevel(string(field)); err == nil {
				return l, true
			}
		}
	}
	return 0, false
}

// Sync waits (at most 5s) until what was written has reached a collector.
// zap calls it for entries above Error; call logger.Sync before exiting.
func (s *sink) Sync() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	return s.ship.Flush(ctx)
}

// Close flushes (within 5s) and closes the sink's shipper.
func (s *sink) Close() error {
	openSinks.Lock()
	openSinks.list = slices.DeleteFunc(openSinks.list, func(o *sink) bool { return o == s })
	openSinks.Unlock()
	return s.ship.Close()
}
