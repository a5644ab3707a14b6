//go:build unix

package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/collector"
	"github.com/zmqlog/zmqlog/collector/vlsink"
	"github.com/zmqlog/zmqlog/collector/web"
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/internal/zmtpraw"
)

// Under an open-file limit too low for the default --max-conns, the cap
// is lowered to what the limit holds beside the collector's own files, so
// that peers holding every connection both ports take cannot take the
// descriptors the store needs: a producer's entries are all stored across
// rotations, and the peers turned away are said in the log.
func TestConnectionCapKeepsDescriptorsForTheStore(t *testing.T) {
	ctx := testsupport.Context(t)
	const limit = 256
	p := startCollectorIn(t, ctx, underOpenFileLimit(t, limit), "--max-size", "1")
	// startCollector serves --metrics: the collector keeps its own files
	// and that server's connections, and the two ports share the rest.
	capacity := (limit - ownFiles - (web.DefaultMaxConns + 1)) / 2
	if said := strings.Join(p.said, "\n"); !strings.Contains(said, "--max-conns lowered to what the open-file limit (ulimit -n) holds") ||
		!strings.Contains(said, fmt.Sprintf("from=4096 to=%d open_file_limit=%d", capacity, limit)) {
		t.Fatalf("the start did not say the cap was lowered to %d:\n%s", capacity, said)
	}

	// The producer connects before the crowd, but has sent nothing yet:
	// the store file is first opened when there is something to write.
	ship, err := zmqlog.NewShipper(p.pull)
	if err != nil {
		t.Fatal(err)
	}
	defer ship.Close()
	waitForMetric(t, ctx, p, "zmqlog_collector_connections", "the producer never connected")

	// More peers than each port takes, each through its handshake, held
	// open: without the cap, both ports' would hold every descriptor
	// there is.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for _, port := range []struct{ name, endpoint, socketType string }{{"pull", p.pull, "PUSH"}, {"pub", p.pub, "SUB"}} {
		for range capacity + 20 {
			c, err := net.Dial("tcp", strings.TrimPrefix(port.endpoint, "tcp://"))
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
			c.Write(zmtpraw.Handshake(port.socketType)) // a peer turned away may be closed already
		}
		waitForMetric(t, ctx, p, fmt.Sprintf(`zmqlog_collector_peers_rejected_total{port=%q,reason="over_limit"}`, port.name),
			"the "+port.name+" port never turned a peer away")
	}

	// Over two megabytes with --max-size 1: the store rotates twice,
	// opening a new file each time, while the peers hold their slots.
	const n = 12000
	entry := []byte(fmt.Sprintf(`{"msg":"after the crowd","pad":%q}`, strings.Repeat("x", 160)))
	for range n {
		ship.Ship("INFO", entry)
	}
	if err := ship.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := ship.Stats(); st.Dropped != 0 {
		t.Fatalf("the producer dropped %d entries", st.Dropped)
	}
	p.terminate(t, ctx)
	if p.stopped["stored"] != n || p.stopped["store_failed"] != 0 {
		t.Fatalf("stored %d, failed to store %d; want %d stored, none failed", p.stopped["stored"], p.stopped["store_failed"], n)
	}
	files, _ := filepath.Glob(strings.TrimSuffix(p.file, ".jsonl") + "*.jsonl")
	lines := 0
	for _, f := range files {
		lines += len(fileLines(t, f))
	}
	if len(files) < 3 || lines != n {
		t.Fatalf("%d store files with %d lines; want at least 3 (two rotations) with %d", len(files), lines, n)
	}
	if said := strings.Join(p.said, "\n"); !strings.Contains(said, "turned away") {
		t.Fatalf("the log never said peers were turned away:\n%s", said)
	}
}

// waitForMetric scrapes p until the metric is above zero, failing with
// never if ctx ends first.
func waitForMetric(t *testing.T, ctx context.Context, p *collectorProc, metric, never string) {
	t.Helper()
	for p.metric(t, metric) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal(never)
		case <-time.After(10 * time.Millisecond): // the next scrape
		}
	}
}

// A --max-conns the open-file limit cannot hold beside the collector's
// own files is refused at start, naming the limit and what would fit.
func TestMaxConnsOverTheOpenFileLimitIsRefused(t *testing.T) {
	ctx := testsupport.Context(t)
	argv := append(underOpenFileLimit(t, 256), bins["."], "--max-conns", "1000", "--pull", "tcp://127.0.0.1:0", "--pub", "tcp://127.0.0.1:0", "--file", "")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out, _ := cmd.CombinedOutput()
	// Two ports and no web server: (256 - ownFiles) / 2.
	want := fmt.Sprintf("--max-conns 1000: the pull and pub ports could hold 2000 connections, but this process may open 256 files (ulimit -n) and keeps %d for its own; give at most %d", ownFiles, (256-ownFiles)/2)
	if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), want) {
		t.Fatalf("exit %d, said:\n%s\nwant exit 2 and %q", code, out, want)
	}
}

// The budget keeps descriptors for everything the collector opens besides
// its ports' peers, so a cap that fits leaves each of them its files.
func TestFileBudgetKeepsDescriptorsForWhatTheCollectorOpens(t *testing.T) {
	base := collector.Defaults()
	withAll := base
	withAll.Forward = "tcp://10.0.0.5:5557,tcp://10.0.0.6:5557"
	withAll.VictoriaLogs = "http://127.0.0.1:9428,http://127.0.0.1:9429"
	noPub := base
	noPub.NoPub = true
	for _, tc := range []struct {
		name          string
		cfg           collector.Config
		web           int
		reserved, per int
	}{
		{"the two ports alone", base, 0, ownFiles, 2},
		{"--http and --metrics", base, 2, ownFiles + 2*(web.DefaultMaxConns+1), 2},
		{"two forward collectors and two VictoriaLogs nodes", withAll, 0, ownFiles + 2 + vlsink.Descriptors(2, 0), 2},
		{`--pub ""`, noPub, 0, ownFiles, 1},
	} {
		b := newFileBudget(tc.cfg, tc.web, 10000)
		if b.reserved != tc.reserved || b.ports != tc.per || b.maxConns() != (10000-tc.reserved)/tc.per {
			t.Errorf("%s: keeps %d for itself over %d ports (cap %d); want %d over %d", tc.name, b.reserved, b.ports, b.maxConns(), tc.reserved, tc.per)
		}
	}
	if vlsink.Descriptors(1, 0) <= 64 {
		t.Errorf("a VictoriaLogs sink is kept %d descriptors, not even the 64 store files it may hold", vlsink.Descriptors(1, 0))
	}
}

// fit keeps a --max-conns within the budget: the default lowered to what
// fits, one the user gave over it refused, and nothing checked when the
// limit is unknown.
func TestFileBudgetFitsMaxConns(t *testing.T) {
	twoPorts := fileBudget{limit: 1000, reserved: 100, ports: 2} // 450 each
	onePort := fileBudget{limit: 1000, reserved: 100, ports: 1}  // 900
	for _, tc := range []struct {
		name     string
		b        fileBudget
		maxConns int
		given    bool
		want     int
		err      string // "" for none
	}{
		{"the default fits", twoPorts, 450, false, 450, ""},
		{"the default is lowered", twoPorts, 4096, false, 450, ""},
		{"a given value that fits", twoPorts, 450, true, 450, ""},
		{"a given value over it", twoPorts, 451, true, 0, "--max-conns 451: the pull and pub ports could hold 902 connections, but this process may open 1000 files (ulimit -n) and keeps 100 for its own; give at most 450"},
		{"one port", onePort, 901, true, 0, "the pull port could hold 901 connections"},
		{"one port, the default", onePort, 4096, false, 900, ""},
		{"nothing left for peers", fileBudget{limit: 100, reserved: 100, ports: 2}, 4096, false, 0, "none are left for peers"},
		{"a limit unknown here", fileBudget{reserved: 100, ports: 2}, 4096, true, 4096, ""},
	} {
		got, err := tc.b.fit(tc.maxConns, tc.given)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%s: %d, %v; want %d", tc.name, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: %d, %v; want an error saying %q", tc.name, got, err, tc.err)
		}
	}
}

// openFileHardLimit is this process's hard open-file limit, 0 if unknown.
func openFileHardLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return int(min(r.Max, math.MaxInt32))
}

// underOpenFileLimit runs a command with its open-file limit (soft and
// hard: Go cannot raise it) set to n, as ulimit -n n does. A host whose
// hard limit is below n cannot: the test is skipped.
func underOpenFileLimit(t testing.TB, n int) []string {
	t.Helper()
	if hard := openFileHardLimit(); hard != 0 && hard < n {
		t.Skipf("the hard open-file limit here is %d, below the %d this test runs under", hard, n)
	}
	return []string{"/bin/sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, n)}
}
