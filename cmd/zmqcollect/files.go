package main

import (
	"fmt"

	"github.com/zmqlog/zmqlog/collector"
	"github.com/zmqlog/zmqlog/collector/vlsink"
	"github.com/zmqlog/zmqlog/collector/web"
	"github.com/zmqlog/zmqlog/internal/zsock"
)

// fileBudget keeps the connections the ZeroMQ ports may hold within the
// process's open-file limit (ulimit -n). Every connection is a file
// descriptor, and so are the store file and its rotation, the state file,
// the web servers' connections, the VictoriaLogs sink's files and
// connections and the forward connections. A --max-conns over what the
// limit leaves is no limit at all: anyone who reaches a port can open
// connections (before any handshake) until no descriptor is left, and the
// collector can then no longer open its next store file on rotation, and
// stores nothing more. Measured before this budget: under ulimit -n 128
// with the default --max-conns 4096, 300 idle connections to the pull
// port made every one of a producer's 20,000 entries fail to store. So
// the budget sets aside what the collector needs for itself and divides
// the rest between the ports; a peer past the cap is turned away, counted
// and said in the log, and the collector goes on storing.
type fileBudget struct {
	limit    int // the open-file limit; 0: unknown here, nothing is checked
	reserved int // descriptors kept for the collector's own files and connections
	ports    int // ZeroMQ ports that accept connections: pull, and pub unless off
}

// ownFiles is what the collector holds open besides its sinks' and web
// servers' descriptors: the standard streams, the poller, the listeners,
// the store file with a rotation and a compression under way, the state
// file being replaced, a certificate directory being read, and room to
// spare.
const ownFiles = 32

// newFileBudget is the budget for cfg with webServers web servers
// (--http, --metrics) under an open-file limit of limit. Lists that do
// not parse are counted as nothing here: collector.New refuses them.
func newFileBudget(cfg collector.Config, webServers, limit int) fileBudget {
	b := fileBudget{limit: limit, reserved: ownFiles + webServers*(web.DefaultMaxConns+1), ports: 1}
	if !cfg.NoPub {
		b.ports++
	}
	if cfg.Forward != "" {
		eps, _ := zsock.ParseEndpoints(cfg.Forward)
		b.reserved += len(eps) // a connection each
	}
	if cfg.VictoriaLogs != "" {
		if urls, err := vlsink.ParseURLs(cfg.VictoriaLogs); err == nil {
			b.reserved += vlsink.Descriptors(len(urls), 0)
		}
	}
	return b
}

// maxConns is the most connections each port may hold within the limit.
func (b fileBudget) maxConns() int { return (b.limit - b.reserved) / b.ports }

// fit is the --max-conns to use for maxConns. One the user gave (given)
// over the budget is refused, naming the limit; the default is lowered
// to fit.
func (b fileBudget) fit(maxConns int, given bool) (int, error) {
	if b.limit == 0 || maxConns <= b.maxConns() {
		return maxConns, nil
	}
	const raise = "raise the limit (ulimit -n, or LimitNOFILE= in a systemd unit)"
	if b.maxConns() < 1 {
		return 0, fmt.Errorf("zmqcollect: this process may open %d files (ulimit -n) and keeps %d for its own files and connections: none are left for peers; %s",
			b.limit, b.reserved, raise)
	}
	if given {
		ports := "the pull port"
		if b.ports == 2 {
			ports = "the pull and pub ports"
		}
		return 0, fmt.Errorf("zmqcollect: --max-conns %d: %s could hold %d connections, but this process may open %d files (ulimit -n) and keeps %d for its own; give at most %d, or %s",
			maxConns, ports, b.ports*maxConns, b.limit, b.reserved, b.maxConns(), raise)
	}
	return b.maxConns(), nil
}
