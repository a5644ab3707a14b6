package main

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/internal/zmtpraw"
)

// attacker plays one host on the loopback network (127.0.0.0/8 is all
// this machine's), so that per-host limits see attackers apart from each
// other and from the real producer on 127.0.0.1.
type attacker struct {
	host string

	mu    sync.Mutex
	conns []net.Conn
}

// dial connects to a tcp:// endpoint from the attacker's host; the
// connection is closed by hangUp. It returns nil when the collector
// refused or closed at once (a limit doing its job).
func (a *attacker) dial(endpoint string) net.Conn {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(a.host)}}
	nc, err := d.Dial("tcp", strings.TrimPrefix(endpoint, "tcp://"))
	if err != nil {
		return nil
	}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	a.mu.Lock()
	a.conns = append(a.conns, nc)
	a.mu.Unlock()
	return nc
}

// handshake completes a NULL handshake as socketType and reports whether
// the collector answered.
func handshakeAs(nc net.Conn, socketType string) bool {
	if nc == nil {
		return false
	}
	if _, err := nc.Write(zmtpraw.Handshake(socketType)); err != nil {
		return false
	}
	return readHandshakeReply(nc) == nil
}

func (a *attacker) hangUp() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, nc := range a.conns {
		nc.Close()
	}
	a.conns = nil
}

// Every attack shape at once, dozens of connections each, plus one host
// trying to take every connection slot, against the built zmqcollect at
// its default limits (only the idle PING shortened, so that silent peers
// are found within the test), while a real producer ships and a real
// subscriber reads. The producer's entries are all stored, every attack
// is counted by port and reason, the collector's peak RSS stays within
// 128 MiB, and when the attackers leave its goroutines and file
// descriptors go back to where they were.
func TestManyAttackersAtOnce(t *testing.T) {
	ctx := testsupport.Context(t)
	// The idle PING is shortened so silent peers are found within the
	// test, but left long enough for every attacker to connect first,
	// on a loaded machine too.
	c := startCollector(t, ctx, "--idle-ping", "3s")
	load := startSteadyLoad(t, ctx, c)
	baseGoroutines := c.metric(t, "go_goroutines")
	baseFDs := c.metric(t, "process_open_fds")

	const perShape = 40
	type shape struct {
		name  string
		port  string // "pull" or "pub"
		conns int
		// attack runs on one connection; it returns when its part is
		// sent, leaving the connection open (the attacker holds it).
		attack func(a *attacker, endpoint string)
	}
	huge := uint64(4<<20 - 64) // the default --max-message-mb
	shapes := []shape{
		{"endless data frames before READY", "pull", perShape, func(a *attacker, ep string) {
			nc := a.dial(ep)
			if nc == nil {
				return
			}
			nc.Write(zmtpraw.Greeting())
			for range 16 {
				if _, err := nc.Write(append(zmtpraw.LongHeader(zmtpraw.More, 64<<10), make([]byte, 64<<10)...)); err != nil {
					return
				}
			}
		}},
		{"a 4 MiB message begun on every connection", "pull", perShape, func(a *attacker, ep string) {
			nc := a.dial(ep)
			if !handshakeAs(nc, "PUSH") {
				return
			}
			nc.Write(zmtpraw.LongHeader(0, huge))
			// The collector may stop reading this connection (its host's
			// share of the receive budget is spent): that is the point,
			// so do not wait for the write to finish.
			nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
			nc.Write(make([]byte, 1<<20))
		}},
		{"handshaken and silent", "pull", perShape, func(a *attacker, ep string) { handshakeAs(a.dial(ep), "PUSH") }},
		{"one host takes every slot", "pull", 300, func(a *attacker, ep string) { handshakeAs(a.dial(ep), "PUSH") }},
		{"20000 subscriptions", "pub", 10, func(a *attacker, ep string) {
			nc := a.dial(ep)
			if !handshakeAs(nc, "SUB") {
				return
			}
			var b []byte
			for i := range 20000 {
				b = append(b, zmtpraw.Frame(0, fmt.Appendf(nil, "\x01ERROR.app-%05d", i))...)
			}
			nc.Write(b)
		}},
		{"subscribes to everything, never reads", "pub", perShape, func(a *attacker, ep string) {
			nc := a.dial(ep)
			if nc == nil {
				return
			}
			nc.(*net.TCPConn).SetReadBuffer(4 << 10)
			if handshakeAs(nc, "SUB") {
				nc.Write(zmtpraw.Frame(0, []byte("\x01")))
			}
		}},
		{"handshaken subscriber, silent", "pub", 100, func(a *attacker, ep string) { handshakeAs(a.dial(ep), "SUB") }},
		{"endless data frames before READY", "pub", perShape, func(a *attacker, ep string) {
			nc := a.dial(ep)
			if nc == nil {
				return
			}
			nc.Write(zmtpraw.Greeting())
			nc.Write(append(zmtpraw.LongHeader(zmtpraw.More, 64<<10), make([]byte, 64<<10)...))
		}},
	}
	var attackers []*attacker
	var wg sync.WaitGroup
	for i, sh := range shapes {
		a := &attacker{host: fmt.Sprintf("127.0.0.%d", 10+i)}
		attackers = append(attackers, a)
		ep := c.pull
		if sh.port == "pub" {
			ep = c.pub
		}
		for range sh.conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sh.attack(a, ep)
			}()
		}
	}
	wg.Wait()

	// Every attack counted by port and reason. The silent ones are found
	// by the idle PING; the rest at once. (The 4 MiB messages end as
	// silent or, when many began at once, over_budget: which depends on
	// timing, so neither is counted on here; their memory is, below.)
	rejected := func(port, reason string) float64 {
		return c.metric(t, fmt.Sprintf(`zmqlog_collector_peers_rejected_total{port=%q,reason=%q}`, port, reason))
	}
	want := []struct {
		port, reason string
		least        float64
	}{
		{"pull", "malformed", perShape},
		{"pull", "over_host_limit", 300 - 256},
		{"pull", "silent", perShape + 256},
		{"pub", "over_subscriptions", 10},
		{"pub", "silent", 100},
		{"pub", "malformed", perShape},
	}
	maxGoroutines := baseGoroutines
	var missing string
	countedBy := time.Now().Add(60 * time.Second)
	for {
		maxGoroutines = max(maxGoroutines, c.metric(t, "go_goroutines"))
		missing = ""
		for _, w := range want {
			if got := rejected(w.port, w.reason); got < w.least {
				missing += fmt.Sprintf(" %s/%s=%v (want %v)", w.port, w.reason, got, w.least)
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(countedBy) {
			t.Fatalf("attacks not counted after 60s:%s", missing)
		}
		time.Sleep(10 * time.Millisecond) // polling a metric another process updates
	}
	for _, a := range attackers {
		a.hangUp()
	}
	n := load.finish(t, ctx)
	var goroutines, fds float64
	// Two of slack each: the store's rotation goroutine starts on the
	// first write, and the scrapes' keep-alive connection may be a second
	// one; a leak would be hundreds, one per attacking connection.
	testsupport.WaitFor(t, ctx, "goroutines and fds back to where they were", func() bool {
		goroutines, fds = c.metric(t, "go_goroutines"), c.metric(t, "process_open_fds")
		return goroutines <= baseGoroutines+2 && fds <= baseFDs+2
	})
	counts := map[string]float64{}
	for _, port := range []string{"pull", "pub"} {
		for _, reason := range []string{"handshake", "oversized", "malformed", "codec_panic", "over_limit",
			"over_host_limit", "silent", "over_budget", "over_subscriptions"} {
			if v := rejected(port, reason); v > 0 {
				counts[port+"/"+reason] = v
			}
		}
	}
	subscriberDropped := c.metric(t, `zmqlog_collector_entries_dropped_total{reason="subscriber_queue_full"}`)
	rss := peakRSS(c.cmd.Process.Pid)
	st := load.s.Stats()
	c.terminate(t, ctx)
	stored := len(fileLines(t, c.file))
	conns := 0
	for _, sh := range shapes {
		conns += sh.conns
	}
	t.Logf("%d attacking connections from %d hosts; the producer shipped %d, sent %d, dropped %d, slowest Ship %v; stored %d",
		conns, len(attackers), n, st.Sent, st.Dropped, &load.slowest, stored)
	t.Logf("rejected %v; entries dropped for slow subscribers %v; goroutines %v before, at most %v during, %v after; fds %v before, %v after; collector peak RSS %d MiB",
		counts, subscriberDropped, baseGoroutines, maxGoroutines, goroutines, baseFDs, fds, rss>>20)
	if st.Shipped != uint64(n) || st.Sent != uint64(n) || uint64(stored) != st.Sent {
		t.Fatalf("the producer shipped %d, sent %d; the collector stored %d", n, st.Sent, stored)
	}
	if rss > 128<<20 {
		t.Fatalf("collector peak RSS %d MiB, want at most 128", rss>>20)
	}
}

// Idle peers cost memory in proportion to what they do: 500 handshaken
// producers and 300 subscribers that send nothing more (from several
// hosts, as the per-host cap wants) add little to the collector's RSS.
// Each once cost a 32 KiB reader, a 64 KiB writer and, for subscribers, a
// 10,000-slot queue: 172 MiB for the producers, 99 MiB for the
// subscribers.
func TestIdlePeersCostLittleMemory(t *testing.T) {
	ctx := testsupport.Context(t)
	c := startCollector(t, ctx)
	before := currentRSS(c.cmd.Process.Pid)
	var wg sync.WaitGroup
	var attackers []*attacker
	for i, n := range []struct {
		port, socketType string
		conns            int
	}{{c.pull, "PUSH", 250}, {c.pull, "PUSH", 250}, {c.pub, "SUB", 150}, {c.pub, "SUB", 150}} {
		a := &attacker{host: fmt.Sprintf("127.0.0.%d", 30+i)}
		attackers = append(attackers, a)
		for range n.conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if !handshakeAs(a.dial(n.port), n.socketType) {
					t.Error("an idle peer was refused")
				}
			}()
		}
	}
	wg.Wait()
	testsupport.WaitFor(t, ctx, "every idle peer to be connected", func() bool {
		return c.metric(t, "zmqlog_collector_connections") >= 500 && c.metric(t, "zmqlog_collector_subscribers") >= 300
	})
	after := currentRSS(c.cmd.Process.Pid)
	for _, a := range attackers {
		a.hangUp()
	}
	perPeer := float64(after-before) / 800
	t.Logf("collector RSS %d MiB before, %d MiB with 500 idle producers and 300 idle subscribers: %.1f KiB a peer",
		before>>20, after>>20, perPeer/1024)
	if after-before > 48<<20 {
		t.Fatalf("800 idle peers cost %d MiB, want at most 48", (after-before)>>20)
	}
}

// currentRSS reads a process's resident set size now.
func currentRSS(pid int) int64 { return procStatusBytes(pid, "VmRSS:") }
