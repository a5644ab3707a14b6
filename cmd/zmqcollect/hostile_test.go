package main

import (
	"crypto/rand"
	bin "encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/internal/zmtpraw"
)

// dialRaw opens a plain TCP connection to a tcp:// endpoint, for playing
// a peer byte by byte.
func dialRaw(t testing.TB, endpoint string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", strings.TrimPrefix(endpoint, "tcp://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	return nc
}

// readHandshakeReply reads a listener's greeting and READY.
func readHandshakeReply(nc net.Conn) error {
	if _, err := io.ReadFull(nc, make([]byte, zmtpraw.GreetingSize)); err != nil {
		return err
	}
	hdr := make([]byte, 9)
	if _, err := io.ReadFull(nc, hdr[:2]); err != nil {
		return err
	}
	size := uint64(hdr[1])
	if hdr[0]&zmtpraw.Long != 0 {
		if _, err := io.ReadFull(nc, hdr[2:]); err != nil {
			return err
		}
		size = bin.BigEndian.Uint64(hdr[1:])
	}
	_, err := io.CopyN(io.Discard, nc, int64(size))
	return err
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// Hostile peers on both of the collector's ports, while a normal
// producer keeps delivering and a normal subscriber keeps receiving: the
// producer's entries are all stored, the hostile peers are dropped and
// counted, and afterwards the collector is back to the goroutines it had,
// with its peak RSS within 64 MiB.
func TestHostilePeersCannotStopDelivery(t *testing.T) {
	ctx := testsupport.Context(t)
	c := startCollector(t, ctx)
	load := startSteadyLoad(t, ctx, c)
	baseGoroutines := c.metric(t, "go_goroutines")

	type attack struct {
		name  string
		bytes func() []byte
		kept  bool // a peer the collector rightly keeps: write and leave
	}
	hangsUp := func(name string, bytes func() []byte) attack { return attack{name, bytes, false} }
	kept := func(name string, bytes func() []byte) attack { return attack{name, bytes, true} }
	pullAttacks := []attack{
		hangsUp("random bytes", func() []byte { return randomBytes(64 << 10) }),
		hangsUp("random bytes after a greeting", func() []byte { return append(zmtpraw.Greeting(), randomBytes(64<<10)...) }),
		hangsUp("stops mid-greeting", func() []byte { return zmtpraw.Greeting()[:20] }),
		hangsUp("stops mid-READY", func() []byte { return zmtpraw.Handshake("PUSH")[:70] }),
		hangsUp("READY announcing 2^62 bytes", func() []byte {
			return append(zmtpraw.Greeting(), zmtpraw.LongHeader(zmtpraw.Command, 1<<62)...)
		}),
		hangsUp("message announcing 2^62 bytes", func() []byte {
			return append(zmtpraw.Handshake("PUSH"), zmtpraw.LongHeader(0, 1<<62)...)
		}),
		hangsUp("malformed READY metadata", func() []byte {
			return append(zmtpraw.Greeting(), zmtpraw.Frame(zmtpraw.Command, []byte("\x05READY\x01A"))...)
		}),
		hangsUp("metadata length past the end", func() []byte {
			return append(zmtpraw.Greeting(), zmtpraw.Frame(zmtpraw.Command, []byte("\x05READY\x0bSocket-Type\xff\xff\xff\xf0PUSH"))...)
		}),
		kept("garbage batch", func() []byte {
			return append(zmtpraw.Handshake("PUSH"), zmtpraw.Frame(0, append([]byte("\xffZL\x01"), randomBytes(200)...))...)
		}), // skipped and counted as a malformed message
	}
	pubAttacks := []attack{
		hangsUp("random bytes", func() []byte { return randomBytes(64 << 10) }),
		hangsUp("subscription announcing 2^62 bytes", func() []byte {
			return append(zmtpraw.Handshake("SUB"), zmtpraw.LongHeader(0, 1<<62)...)
		}),
		hangsUp("malformed READY metadata", func() []byte {
			return append(zmtpraw.Greeting(), zmtpraw.Frame(zmtpraw.Command, []byte("\x05READY\x01A"))...)
		}),
		kept("a subscriber that sends data", func() []byte {
			return append(zmtpraw.Handshake("SUB"), zmtpraw.Frame(0, append([]byte{7}, randomBytes(200)...))...)
		}), // ignored and counted, as libzmq does
	}

	// Peers that connect and never speak, held open through the attack:
	// the handshake timeout must drop them.
	var silent []net.Conn
	for i := range 100 {
		ep := c.pull
		if i%2 == 1 {
			ep = c.pub
		}
		silent = append(silent, dialRaw(t, ep))
	}
	defer func() {
		for _, nc := range silent {
			nc.Close()
		}
	}()

	// Each attack 20 times on its port, then thousands of connections
	// opened and dropped, from 32 workers at once.
	maxGoroutines := baseGoroutines
	var wg sync.WaitGroup
	jobs := make(chan func(), 64)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range jobs {
				job()
			}
		}()
	}
	send := func(endpoint string, a attack) func() {
		b := a.bytes()
		return func() {
			nc, err := net.DialTimeout("tcp", strings.TrimPrefix(endpoint, "tcp://"), 5*time.Second)
			if err != nil {
				return // the listener's backlog was full: a refusal is fine
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			nc.Write(b)
			if a.kept {
				// Take the collector's side of the handshake before
				// leaving: closing with it unread would reset the
				// connection and discard what we sent.
				readHandshakeReply(nc)
				return
			}
			// Wait for the collector to hang up, or for our deadline.
			io.Copy(io.Discard, nc)
		}
	}
	attacks := 0
	for range 20 {
		for _, a := range pullAttacks {
			jobs <- send(c.pull, a)
			attacks++
		}
		for _, a := range pubAttacks {
			jobs <- send(c.pub, a)
			attacks++
		}
	}
	const churn = 3000
	for i := range churn {
		ep := c.pull
		if i%3 == 2 {
			ep = c.pub
		}
		jobs <- func() {
			nc, err := net.DialTimeout("tcp", strings.TrimPrefix(ep, "tcp://"), 5*time.Second)
			if err != nil {
				return
			}
			switch i % 4 {
			case 1:
				nc.Write(zmtpraw.Greeting()[:30])
			case 2:
				nc.Write(zmtpraw.Handshake("PUSH"))
			}
			nc.Close()
		}
		if i%500 == 0 {
			maxGoroutines = max(maxGoroutines, c.metric(t, "go_goroutines"))
		}
	}
	close(jobs)
	wg.Wait()
	maxGoroutines = max(maxGoroutines, c.metric(t, "go_goroutines"))

	// The silent peers are dropped by the handshake timeout.
	for _, nc := range silent {
		// It gets the collector's greeting, then is hung up on.
		nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.Copy(io.Discard, nc); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("a silent peer was not dropped: %v", err)
		}
	}
	n := load.finish(t, ctx)
	// Back to the goroutines it had before the attack: nothing hostile
	// stays behind.
	var goroutines float64
	for {
		goroutines = c.metric(t, "go_goroutines")
		if goroutines <= baseGoroutines+2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the collector kept %v goroutines after the attack, %v before it", goroutines, baseGoroutines)
		case <-time.After(10 * time.Millisecond):
		}
	}
	rejected := map[string]float64{}
	for _, port := range []string{"pull", "pub"} {
		for _, reason := range []string{"handshake", "oversized", "malformed", "codec_panic", "over_limit"} {
			rejected[port+"/"+reason] = c.metric(t, fmt.Sprintf(`zmqlog_collector_peers_rejected_total{port=%q,reason=%q}`, port, reason))
		}
	}
	malformedMessages := c.metric(t, `zmqlog_collector_messages_total{kind="malformed"}`)
	rss := peakRSS(c.cmd.Process.Pid)
	st := load.s.Stats()
	c.terminate(t, ctx)
	stored := len(fileLines(t, c.file))
	t.Logf("%d attacks, %d connections churned, 100 silent peers; the producer shipped %d entries, sent %d, dropped %d, slowest Ship %v; stored %d, gaps %d",
		attacks, churn, n, st.Sent, st.Dropped, &load.slowest, stored, c.stopped["gaps"])
	t.Logf("rejected peers %v, malformed messages %v; goroutines: %v before, at most %v during, %v after; collector peak RSS %d MiB",
		rejected, malformedMessages, baseGoroutines, maxGoroutines, goroutines, rss>>20)
	if st.Shipped != uint64(n) || st.Sent != uint64(n) || uint64(stored) != st.Sent {
		t.Fatalf("the producer shipped %d, sent %d; the collector stored %d", n, st.Sent, stored)
	}
	// Lower bounds from the attacks above (20 of each, 50 silent peers a
	// port); the churn adds to the handshake counts.
	for key, least := range map[string]float64{
		"pull/handshake": 50 + 20*6, "pull/oversized": 20, "pull/codec_panic": 20,
		"pub/handshake": 50 + 20, "pub/oversized": 20, "pub/codec_panic": 20,
	} {
		if rejected[key] < least {
			t.Errorf("peers rejected %s: %v, want at least %v", key, rejected[key], least)
		}
	}
	if malformedMessages < 20 || rejected["pub/malformed"] < 20 {
		t.Errorf("malformed messages %v, subscribers sending data %v: want at least 20 of each", malformedMessages, rejected["pub/malformed"])
	}
	if rss > 64<<20 {
		t.Fatalf("collector peak RSS %d MiB, want at most 64", rss>>20)
	}
}
