// Command zmqtail subscribes to zmqlog collectors (or any ZeroMQ PUB of
// [topic, entry] messages) and pretty-prints the live stream:
//
//	zmqtail --level error                      # errors and worse, from every app
//	zmqtail --level warn --app checkout        # one app
//	zmqtail --json | jq .                      # raw entries
//	zmqtail --bind tcp://127.0.0.1:5557        # be the collector: apps PUSH here
//
// Level filtering happens at the publisher, as ZeroMQ prefix
// subscriptions ("error" subscribes to ERROR, DPANIC, PANIC, CRITICAL and
// FATAL). Connection state goes to stderr. Text from peers (entries, peer
// addresses, their errors) is shown with control characters escaped
// (tail.TerminalSafe), except with --json, which prints entries as they
// came.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/zmqlog/zmqlog/internal/cli"
	"github.com/zmqlog/zmqlog/internal/zsock"
	"github.com/zmqlog/zmqlog/tail"
	"github.com/zmqlog/zmqlog/topic"
	"github.com/zmqlog/zmqlog/wire"
)

func main() { cli.Main(run) }

// DefaultEndpoint is where zmqcollect publishes by default.
const DefaultEndpoint = "tcp://127.0.0.1:5558"

type config struct {
	level     string
	apps      []string
	grep      string
	exclude   string
	fields    string
	json      bool
	colorMode string
	timeFmt   string
	utc       bool
	bind      string
	heartbeat time.Duration
}

func run(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("zmqtail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.StringVar(&cfg.level, "level", "", "show this level and above: "+strings.Join(topic.ValidLevels(), ", ")+" (default: everything)")
	fs.Func("app", "show only this app (repeatable)", func(s string) error { cfg.apps = append(cfg.apps, s); return nil })
	fs.StringVar(&cfg.grep, "grep", "", "show only entries matching this regular expression (message or any field)")
	fs.StringVar(&cfg.exclude, "exclude", "", "hide entries matching this regular expression")
	fs.StringVar(&cfg.fields, "fields", "", "comma-separated fields to show after the message (default: all)")
	fs.BoolVar(&cfg.json, "json", false, "print entries as received, one JSON object per line (for jq)")
	fs.StringVar(&cfg.colorMode, "color", "auto", "auto (on a terminal, unless NO_COLOR is set), always or never")
	fs.StringVar(&cfg.timeFmt, "time", "15:04:05.000", "Go time layout for the entry's own time")
	fs.BoolVar(&cfg.utc, "utc", false, "show times in UTC")
	fs.StringVar(&cfg.bind, "bind", "", "be the collector: bind a PULL socket here (e.g. tcp://127.0.0.1:5557) instead of subscribing")
	fs.DurationVar(&cfg.heartbeat, "heartbeat-timeout", 5*time.Second, "say so on stderr when a collector's heartbeat is missing this long (0 turns this off)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: zmqtail [flags] [endpoint ...]   (default endpoint %s)\n\nFlags:\n", DefaultEndpoint)
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if cfg.heartbeat < 0 {
		return cli.Usage(fmt.Errorf("zmqtail: --heartbeat-timeout %v: want a positive duration, or 0 to turn the heartbeat watch off", cfg.heartbeat))
	}
	filter, prefixes, err := cfg.filterAndPrefixes()
	if err != nil {
		return cli.Usage(fmt.Errorf("zmqtail: %w", err))
	}
	useColor, err := cfg.color(stdout)
	if err != nil {
		return cli.Usage(fmt.Errorf("zmqtail: %w", err))
	}
	opts := tail.Options{Color: useColor, TimeLayout: cfg.timeFmt, UTC: cfg.utc, JSON: cfg.json}
	if cfg.fields != "" {
		opts.Fields = strings.Split(cfg.fields, ",")
	}
	printer := tail.NewPrinter(stdout, opts)
	show := func(topicName string, entry []byte) {
		if topicName == topic.Heartbeat || !filter.Keep(topicName, entry) {
			return
		}
		if len(prefixes) > 0 && !hasAnyPrefix(topicName, prefixes) {
			return // a PULL (--bind) cannot filter at the sender
		}
		printer.Print(topicName, entry)
	}
	if cfg.bind != "" {
		if fs.NArg() > 0 {
			return cli.Usage(errors.New("zmqtail: --bind takes no endpoints to connect to"))
		}
		return runBind(ctx, cfg.bind, show, stderr)
	}
	endpoints := strings.Join(fs.Args(), ",")
	if endpoints == "" {
		endpoints = DefaultEndpoint
	}
	return runSubscribe(ctx, endpoints, prefixes, cfg.heartbeat, show, stderr)
}

func (cfg *config) filterAndPrefixes() (tail.Filter, []string, error) {
	f := tail.Filter{Apps: cfg.apps}
	var err error
	if cfg.grep != "" {
		if f.Grep, err = regexp.Compile(cfg.grep); err != nil {
			return f, nil, fmt.Errorf("--grep: %w", err)
		}
	}
	if cfg.exclude != "" {
		if f.Exclude, err = regexp.Compile(cfg.exclude); err != nil {
			return f, nil, fmt.Errorf("--exclude: %w", err)
		}
	}
	var prefixes []string
	if cfg.level != "" {
		if prefixes, err = topic.AtLeast(cfg.level); err != nil {
			return f, nil, fmt.Errorf("--level: %w", err)
		}
	}
	return f, prefixes, nil
}

func (cfg *config) color(stdout io.Writer) (bool, error) {
	switch cfg.colorMode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto":
		if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
			return false, nil
		}
		f, ok := stdout.(*os.File)
		return ok && isatty.IsTerminal(f.Fd()), nil
	}
	return false, fmt.Errorf("--color %q: want auto, always or never", cfg.colorMode)
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// runSubscribe follows one or more publishers, merged into one stream.
func runSubscribe(ctx context.Context, endpoints string, prefixes []string, heartbeat time.Duration, show func(string, []byte), stderr io.Writer) error {
	eps, err := zsock.ParseEndpoints(endpoints)
	if err != nil {
		return cli.Usage(fmt.Errorf("zmqtail: %w", err))
	}
	topics := []string{""}
	if len(prefixes) > 0 {
		topics = append(prefixes, topic.Heartbeat)
	}
	status := newStatus(stderr, heartbeat)
	sub := zsock.DialSub(eps, topics, zsock.Options{OnEvent: status.event, ReconnectMax: time.Second})
	defer sub.Close()
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { defer close(watched); status.watch(watchCtx) }()
	defer func() { stopWatch(); <-watched }()
	for {
		m, err := sub.Recv(ctx)
		if err != nil {
			return nil // ctx ended: Ctrl-C
		}
		if len(m.Frames) == 0 {
			continue
		}
		topicName := string(m.Frames[0])
		if topicName == topic.Heartbeat {
			status.beat(m.Peer.Addr)
			continue
		}
		entry := m.Frames[len(m.Frames)-1]
		if len(m.Frames) == 1 {
			topicName = ""
		}
		show(topicName, entry)
	}
}

// runBind is zmqtail as the collector: producers PUSH to it directly.
func runBind(ctx context.Context, endpoint string, show func(string, []byte), stderr io.Writer) error {
	ep, err := zsock.ParseEndpoint(endpoint, true)
	if err != nil {
		return cli.Usage(fmt.Errorf("zmqtail: --bind: %w", err))
	}
	pull, err := zsock.ListenPull(ep, zsock.Options{OnEvent: func(e zsock.Event) {
		switch e.Kind {
		case zsock.Connected:
			fmt.Fprintf(stderr, "zmqtail: producer %s connected\n", tail.TerminalSafe(e.Peer))
		case zsock.Rejected:
			// An ipc peer names its own address (the path it bound), and
			// the error may quote what it sent: both are its text.
			fmt.Fprintf(stderr, "zmqtail: dropped peer %s: %s\n", tail.TerminalSafe(e.Peer), errorText(e.Err))
		}
	}})
	if err != nil {
		return fmt.Errorf("zmqtail: %w", err)
	}
	defer pull.Close()
	fmt.Fprintf(stderr, "zmqtail: listening on %s\n", pull.Endpoint())
	for {
		m, err := pull.Recv(ctx)
		if err != nil {
			return nil
		}
		b, err := wire.Decode(m.Frames)
		if err != nil {
			fmt.Fprintf(stderr, "zmqtail: skipped a message from %s: %s\n", tail.TerminalSafe(m.Peer.Addr), errorText(err))
			continue
		}
		for tp, entry := range b.Entries() {
			show(string(tp), entry)
		}
	}
}

// errorText is err's message made safe for the terminal: errors about a
// peer may carry the peer's own bytes.
func errorText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return tail.TerminalSafe(err.Error())
}

// status reports connection state on stderr: connected, lost, and a
// collector whose heartbeat stopped although the connection is up.
type status struct {
	w       io.Writer
	timeout time.Duration // 0: no heartbeat watch

	mu        sync.Mutex
	lastBeat  map[string]time.Time // per publisher address
	connected map[string]bool
	silent    map[string]bool // already said "no heartbeat"
}

func newStatus(w io.Writer, timeout time.Duration) *status {
	return &status{w: w, timeout: timeout, lastBeat: map[string]time.Time{}, connected: map[string]bool{}, silent: map[string]bool{}}
}

func (s *status) event(e zsock.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e.Kind {
	case zsock.Connected:
		fmt.Fprintf(s.w, "zmqtail: connected to %s\n", tail.TerminalSafe(e.Endpoint))
		s.connected[e.Peer] = true
		s.lastBeat[e.Peer] = time.Now()
	case zsock.Disconnected:
		fmt.Fprintf(s.w, "zmqtail: lost %s, reconnecting\n", tail.TerminalSafe(e.Endpoint))
		delete(s.connected, e.Peer)
	}
}

func (s *status) beat(peer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastBeat[peer] = time.Now()
	if s.silent[peer] {
		fmt.Fprintf(s.w, "zmqtail: heartbeat from %s again\n", tail.TerminalSafe(peer))
		delete(s.silent, peer)
	}
}

// watch checks the heartbeats until ctx ends, five times per timeout; it
// returns at once when the watch is off.
func (s *status) watch(ctx context.Context) {
	if s.timeout <= 0 {
		return
	}
	t := time.NewTicker(max(s.timeout/5, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.check(now)
		}
	}
}

// check says which connected publishers have been silent longer than the
// timeout at now, once each until their heartbeat returns.
func (s *status) check(now time.Time) {
	if s.timeout <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for peer := range s.connected {
		if !s.silent[peer] && now.Sub(s.lastBeat[peer]) > s.timeout {
			fmt.Fprintf(s.w, "zmqtail: no heartbeat from %s for %v\n", tail.TerminalSafe(peer), s.timeout)
			s.silent[peer] = true
		}
	}
}
