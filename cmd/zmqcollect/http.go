package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zmqlog/zmqlog/collector"
	"github.com/zmqlog/zmqlog/collector/web"
	"github.com/zmqlog/zmqlog/internal/cli"
)

// tokenEnv holds the --http token when the flag is not given: a flag's
// value shows in ps and in shell history, the environment does not.
const tokenEnv = "ZMQLOG_HTTP_TOKEN"

// httpFlags are the flags of the page and its history.
type httpFlags struct {
	addr, token string
	historyMB   int
}

func addHTTPFlags(fs *flag.FlagSet, cfg *collector.Config) *httpFlags {
	h := &httpFlags{}
	fs.StringVar(&h.addr, "http", "", "serve the live page, its history stream and /metrics at http://ADDR/, e.g. 127.0.0.1:9559; an address other hosts reach needs --http-token")
	fs.StringVar(&h.token, "http-token", "", "bearer token the page's API, its /metrics and --metrics require (default $"+tokenEnv+"); open the page as http://ADDR/#token=TOKEN")
	fs.IntVar(&h.historyMB, "history-mb", int(cfg.HistoryBytes>>20), "megabytes of recent entries kept in memory for the page and zmqtail --since/--last; 0 keeps none")
	return h
}

// apply checks the flags and sets the collector's history.
func (h *httpFlags) apply(cfg *collector.Config) error {
	if h.token == "" {
		h.token = os.Getenv(tokenEnv)
	}
	if h.historyMB < 0 {
		return cli.Usage(fmt.Errorf("zmqcollect: --history-mb %d: must not be negative", h.historyMB))
	}
	cfg.HistoryBytes = int64(h.historyMB) << 20
	if h.addr == "" {
		return nil
	}
	if err := checkWebAddr("http", h.addr, h.token, "127.0.0.1:9559"); err != nil {
		return err
	}
	if h.historyMB == 0 {
		return cli.Usage(fmt.Errorf("zmqcollect: --http %s with --history-mb 0: the page needs the history; give it some megabytes", h.addr))
	}
	return nil
}

// newRegistry holds the collector's metrics and the Go runtime's and the
// process's (goroutines, heap, RSS, open fds) that operators watch
// beside them.
func newRegistry(c *collector.Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// startHTTP serves the page; stop ends it and waits.
func startHTTP(c *collector.Collector, h *httpFlags, reg *prometheus.Registry, logger *slog.Logger) (stop func(), err error) {
	return startWeb(web.Listen, "http", h.addr, h.token, "/", "serving the live page", c, reg, logger)
}

// startMetrics serves /metrics alone at addr (--metrics), guarded as the
// page is (web.ListenMetrics); stop ends it and waits.
func startMetrics(c *collector.Collector, addr, token string, reg *prometheus.Registry, logger *slog.Logger) (stop func(), err error) {
	return startWeb(web.ListenMetrics, "metrics", addr, token, "/metrics", "serving metrics", c, reg, logger)
}

// startWeb starts the web server listen makes for --flag at addr, with
// the registry's metrics, registers its own counters, and logs saying
// where it serves path (never the token, only whether one is set); stop
// ends it and waits.
func startWeb(listen func(web.Source, web.Options) (*web.Server, error), flag, addr, token, path, saying string,
	c *collector.Collector, reg *prometheus.Registry, logger *slog.Logger) (stop func(), err error) {
	srv, err := listen(c, web.Options{Addr: addr, Token: token, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), Log: logger})
	if err != nil {
		if errors.Is(err, web.ErrTokenRequired) {
			return nil, cli.Usage(fmt.Errorf("zmqcollect: --%s: %w", flag, err))
		}
		return nil, fmt.Errorf("zmqcollect: --%s %s: %w", flag, addr, err)
	}
	reg.MustRegister(srv)
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve() }()
	logger.Info(saying, "url", "http://"+srv.Addr()+path, "token", token != "")
	return func() { srv.Close(); <-served }, nil
}

// checkWebAddr refuses at start a --flag address that is not host:port,
// or that other hosts reach while no token is set.
func checkWebAddr(flag, addr, token, example string) error {
	if err := checkListenAddr(flag, addr, example); err != nil {
		return err
	}
	if !web.IsLoopback(addr) && token == "" {
		return cli.Usage(fmt.Errorf("zmqcollect: --%s %s: other hosts can reach this address, so it needs --http-token (or $%s), which a client sends as a bearer token; or bind 127.0.0.1", flag, addr, tokenEnv))
	}
	return nil
}

// checkListenAddr refuses at start a listen address that is not
// host:port with a port number, naming the flag and the value, rather
// than let it pass for a non-loopback address or fail once running.
func checkListenAddr(flag, addr, example string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		if _, err = net.LookupPort("tcp", port); err != nil {
			err = fmt.Errorf("port %q is not a port number", port)
		}
	}
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			err = errors.New(ae.Err)
		}
		return cli.Usage(fmt.Errorf("zmqcollect: --%s %s: not host:port (%v); e.g. %s", flag, addr, err, example))
	}
	return nil
}
