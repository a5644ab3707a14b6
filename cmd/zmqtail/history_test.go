package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/testsupport"
)

// zmqcollect --http, then zmqtail --last or --since while a producer
// ships steadily: the tail prints the history and goes on live, every
// entry exactly once and none missing where the two meet.
func TestSinceAndLastAcrossTheSeam(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		last int // 0: everything since the start
	}{
		{"last", []string{"--last", "15000"}, 15000},
		{"since", []string{"--since", "10m"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testsupport.Context(t)
			col := start(t, ctx, bins["../zmqcollect"], "--pull", "tcp://127.0.0.1:0", "--pub", "tcp://127.0.0.1:0", "--file", "", "--http", "127.0.0.1:0")
			addr := waitLine(t, ctx, col.stderr, `serving the live page" url=http://(\S+)/`)[1]
			pull := waitLine(t, ctx, col.stderr, `msg=collecting pull=(\S+)`)[1]

			s, err := zmqlog.NewShipper(pull, zmqlog.WithBlock(time.Minute), zmqlog.WithApp("seam"))
			if err != nil {
				t.Fatal(err)
			}
			// A steady load, about 20,000 entries a second, until stop.
			var shipped atomic.Int64
			stop, stopped := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(stopped)
				tick := time.NewTicker(5 * time.Millisecond)
				defer tick.Stop()
				for n := 0; ; {
					select {
					case <-stop:
						s.Close() // ships what it holds
						return
					case <-tick.C:
					}
					for range 100 {
						s.Ship("INFO.seam", fmt.Appendf(nil, `{"level":"info","msg":"steady","n":%d}`, n))
						n++
						shipped.Store(int64(n))
					}
				}
			}()
			// A history of several of the collector's chunks (4096 entries).
			testsupport.WaitFor(t, ctx, "some history", func() bool { return shipped.Load() >= 20000 })
			atStart := int(shipped.Load())
			tl := start(t, ctx, bins["."], append([]string{"--json", "--history", addr}, tc.args...)...)
			// The tail prints live entries; let the load go on a while more.
			first := entryN(t, waitLine(t, ctx, tl.stdout, `"n":`)[0])
			testsupport.WaitFor(t, ctx, "live entries", func() bool { return int(shipped.Load()) >= atStart+10000 })
			close(stop)
			<-stopped
			total := int(shipped.Load())

			want := first + 1
			for want < total {
				select {
				case l := <-tl.stdout:
					n := entryN(t, l)
					if n != want {
						t.Fatalf("printed %d after %d: want every entry once, in order", n, want-1)
					}
					want++
				case <-ctx.Done():
					t.Fatalf("printed up to %d of %d", want-1, total)
				}
			}
			if tc.last == 0 && first != 0 {
				t.Errorf("--since printed from %d, want everything from 0", first)
			}
			// The collector had received at most atStart when the tail
			// asked, and more arrive as it starts: its last 15000 then
			// begin before atStart, after 0.
			if tc.last > 0 && (first == 0 || first >= atStart) {
				t.Errorf("--last %d printed from %d; %d had been shipped when it started", tc.last, first, atStart)
			}
			t.Logf("printed %d..%d in order, each once; %d had been shipped before the tail started", first, total-1, atStart)
		})
	}
}

func entryN(t *testing.T, line string) int {
	t.Helper()
	var e struct{ N *int }
	if err := json.Unmarshal([]byte(line), &e); err != nil || e.N == nil {
		t.Fatalf("not an entry: %q (%v)", line, err)
	}
	return *e.N
}

// Without a collector's --http the tail says where it looked and keeps
// trying; a collector with no history refuses, and the tail exits.
func TestHistoryFlagsRefused(t *testing.T) {
	ctx := testsupport.Context(t)
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--last", "-1"}, "positive"},
		{[]string{"--since", "1m", "--bind", "tcp://127.0.0.1:0"}, "no --bind"},
		{[]string{"--last", "5", "--history", "::bad"}, "--history"},
	} {
		cmd := exec.CommandContext(ctx, bins["."], tc.args...)
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), tc.says) {
			t.Errorf("zmqtail %v: exit %d, %q; want exit 2 saying %q", tc.args, code, out, tc.says)
		}
	}
}

// --last counts what --grep keeps, at the collector: the last 3 matches,
// however far back, not the matches among the last 3 entries.
func TestLastCountsAfterGrep(t *testing.T) {
	ctx := testsupport.Context(t)
	col := start(t, ctx, bins["../zmqcollect"], "--pull", "tcp://127.0.0.1:0", "--pub", "tcp://127.0.0.1:0", "--file", "", "--http", "127.0.0.1:0")
	addr := waitLine(t, ctx, col.stderr, `serving the live page" url=http://(\S+)/`)[1]
	pull := waitLine(t, ctx, col.stderr, `msg=collecting pull=(\S+)`)[1]
	s, err := zmqlog.NewShipper(pull, zmqlog.WithBlock(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for n := range 3000 {
		s.Ship("INFO.app", fmt.Appendf(nil, `{"level":"info","msg":"m","n":%d}`, n))
	}
	s.Close()
	// The last entry is in the history once a --last 1 tail prints it.
	probe := start(t, ctx, bins["."], "--json", "--history", addr, "--last", "1")
	waitLine(t, ctx, probe.stdout, `"n":2999}`)
	tl := start(t, ctx, bins["."], "--json", "--history", addr, "--last", "3", "--grep", `"n":(7|77|777|1777)}`)
	var got []int
	for range 3 {
		got = append(got, entryN(t, waitLine(t, ctx, tl.stdout, `"n":`)[0]))
	}
	if fmt.Sprint(got) != "[77 777 1777]" {
		t.Errorf("--last 3 --grep printed %v, want [77 777 1777]", got)
	}
}
