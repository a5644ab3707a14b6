// Command zmqtail subscribes to zmqlog collectors (or any ZeroMQ PUB of
// [topic, entry] messages) and pretty-prints the live stream:
//
//	zmqtail --level error                      # errors and worse, from every app
//	zmqtail --level warn --app checkout        # one app
//	zmqtail --json | jq .                      # raw entries
//	zmqtail --bind tcp://127.0.0.1:5557        # be the collector: apps PUSH here
//	zmqtail --since 10m --level error          # the collector's recent history, then live
//	zmqtail --last 200                         # the last 200 entries, then live
//
// --since and --last read the history zmqcollect keeps, from its --http
// address (--history, default 127.0.0.1:9559; a token in
// $ZMQLOG_HTTP_TOKEN), and go on with its live entries on the same
// numbered stream: no entry twice, none missing where the two meet.
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
	"time"

	"github.com/mattn/go-isatty"

	"github.com/zmqlog/zmqlog/internal/cli"
	"github.com/zmqlog/zmqlog/tail"
	"github.com/zmqlog/zmqlog/topic"
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

	curveServer, curveSecret string
	since                    time.Duration
	last                     int
	history                  string
}

// DefaultHistory is where zmqcollect --http serves its history, by the
// README's example.
const DefaultHistory = "127.0.0.1:9559"

// tokenEnv holds the collector's --http token: a flag's value would show
// in ps and in shell history.
const tokenEnv = "ZMQLOG_HTTP_TOKEN"

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
	fs.StringVar(&cfg.curveServer, "curve-server", "", "the collector's public CURVE certificate (NAME.key) when it runs with --curve-secret; needs --curve-secret")
	fs.StringVar(&cfg.curveSecret, "curve-secret", "", "this tail's secret CURVE certificate (NAME.key_secret, mode 0600, from zmqcollect keygen); needs --curve-server")
	fs.DurationVar(&cfg.since, "since", 0, "first print the entries of this last while (10m), from the collector's history, then go on live; needs zmqcollect --http")
	fs.IntVar(&cfg.last, "last", 0, "first print the last N entries (after --level, --app and --grep) from the collector's history, then go on live; needs zmqcollect --http")
	fs.StringVar(&cfg.history, "history", DefaultHistory, "the collector's --http address, for --since and --last (token: $"+tokenEnv+")")
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
	if (cfg.curveServer == "") != (cfg.curveSecret == "") {
		return cli.Usage(errors.New("zmqtail: CURVE needs both --curve-server (the collector's NAME.key) and --curve-secret (this tail's NAME.key_secret)"))
	}
	if cfg.curveServer != "" && cfg.bind != "" {
		return cli.Usage(errors.New("zmqtail: --curve-server and --curve-secret do not go with --bind"))
	}
	print := func(topicName string, entry []byte) {
		if topicName != topic.Heartbeat && filter.Keep(topicName, entry) {
			printer.Print(topicName, entry)
		}
	}
	if cfg.since < 0 || cfg.last < 0 {
		return cli.Usage(errors.New("zmqtail: --since and --last want a positive duration and count"))
	}
	if cfg.since > 0 || cfg.last > 0 {
		if cfg.bind != "" || fs.NArg() > 0 {
			return cli.Usage(errors.New("zmqtail: --since and --last read the collector's history at --history; they take no --bind or endpoints"))
		}
		h := tail.History{Addr: cfg.history, Token: os.Getenv(tokenEnv), Since: cfg.since, Last: cfg.last, Level: cfg.level, Apps: cfg.apps, Grep: cfg.grep, Status: stderr, Name: "zmqtail"}
		switch err := h.Run(ctx, print); {
		case err == nil:
			return nil
		case errors.Is(err, tail.ErrEndpoint):
			return cli.Usage(fmt.Errorf("zmqtail: --history: %w", err))
		default:
			return fmt.Errorf("zmqtail: %w", err)
		}
	}
	src := tail.Source{Prefixes: prefixes, Status: stderr, Name: "zmqtail", HeartbeatTimeout: cfg.heartbeat,
		CurveServer: cfg.curveServer, CurveSecret: cfg.curveSecret}
	if cfg.bind != "" {
		if fs.NArg() > 0 {
			return cli.Usage(errors.New("zmqtail: --bind takes no endpoints to connect to"))
		}
		src.Bind = cfg.bind
	} else if src.Endpoints = strings.Join(fs.Args(), ","); src.Endpoints == "" {
		src.Endpoints = DefaultEndpoint
	}
	err = src.Run(ctx, print)
	switch {
	case err == nil:
		return nil
	case cfg.bind != "" && errors.Is(err, tail.ErrEndpoint):
		return cli.Usage(fmt.Errorf("zmqtail: --bind: %w", err))
	case errors.Is(err, tail.ErrEndpoint):
		return cli.Usage(fmt.Errorf("zmqtail: %w", err))
	case errors.Is(err, tail.ErrCurve):
		return cli.Usage(fmt.Errorf("zmqtail: %w", err))
	}
	return fmt.Errorf("zmqtail: %w", err)
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
