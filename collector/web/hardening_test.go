package web

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/collector"
	"github.com/zmqlog/zmqlog/internal/testsupport"
)

// hostileGrep is under maxGrepBytes (256), compiles, and makes Go's NFA
// keep ~40k instructions live per byte of text.
var hostileGrep = strings.Repeat(`[a-z]{0,999}`, 21) + `Z` // 253 bytes

func kibLine(i int) []byte {
	return fmt.Appendf(nil, `{"level":"info","msg":"%s","i":%d}`, strings.Repeat("a", 1000), i)
}

// A grep the server accepts must cost little per entry: SECURITY.md says
// "a pattern cannot explode".
func TestGrepPatternsThatExplodeAreRefused(t *testing.T) {
	r, _ := http.NewRequest("GET", "/api/stream?grep="+url.QueryEscape(hostileGrep), nil)
	q, err := parseStreamQuery(r)
	if err != nil {
		return // refused: fine
	}
	line := kibLine(0)
	t0 := time.Now()
	q.grep.Match(line)
	if d := time.Since(t0); d > 5*time.Millisecond {
		t.Fatalf("a %d-byte grep the server accepts took %v on one 1 KiB entry", len(hostileGrep), d)
	}
}

// A stream whose client has gone must stop, whatever it was asked: Close
// must not wait for a grep over the history. The pattern is the costliest
// kind accepted, over enough history to keep it busy for seconds; both
// scans are tried: the search back for last=N and the catch-up.
func TestStreamStopsGreppingWhenItsClientLeaves(t *testing.T) {
	costly := `[a-z]{0,100}Z`
	if _, err := compileGrep(costly); err != nil {
		t.Fatal(err)
	}
	h := collector.NewHistory(16 << 20)
	for i := range 4000 {
		h.Append([][]byte{[]byte("INFO.a"), kibLine(i)}, time.Now())
	}
	for _, ask := range []string{"last=4000", "since=1h"} {
		s, err := Listen(fakeSource{h}, Options{Addr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan struct{})
		go func() { defer close(served); s.Serve() }()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.Addr()+"/api/stream?"+ask+"&grep="+url.QueryEscape(costly), nil)
		if res, err := client.Do(req); err == nil {
			res.Body.Close()
		}
		<-ctx.Done()
		cancel()
		t0 := time.Now()
		s.Close()
		<-served
		if d := time.Since(t0); d > 2*time.Second {
			t.Fatalf("%s: Close took %v: the stream went on grepping after its client left", ask, d)
		}
	}
}

// A pattern whose program would explode is refused with a 400 naming it.
func TestGrepPatternsThatExplodeAreRefusedWith400(t *testing.T) {
	ctx := testsupport.Context(t)
	s := serve(t, fakeSource{collector.NewHistory(1 << 20)}, Options{})
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.Addr()+"/api/stream?grep="+url.QueryEscape(hostileGrep), nil)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body := make([]byte, 512)
	n, _ := res.Body.Read(body)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body[:n]), "grep") {
		t.Fatalf("%s: %q", res.Status, body[:n])
	}
}

// Clients without the token must not be able to hold every connection
// slot, locking out the ones that have it.
func TestUnauthenticatedClientsCannotHoldEveryConnection(t *testing.T) {
	ctx := testsupport.Context(t)
	s := serve(t, fakeSource{collector.NewHistory(1 << 20)}, Options{Token: "s3cret", MaxConns: 4})
	for range 4 {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("without token: %s", res.Status)
		}
		// the connection stays open, idle, for IdleTimeout (60s)
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(cctx, "GET", "http://"+s.Addr()+"/api/stream", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("the token holder is locked out by 4 unauthenticated idle connections: %v", err)
	}
	res.Body.Close()
}

// after=MaxUint64 must not wrap to position 0: the client would get the
// whole history and the collector would count the ring's first position
// as missed.
func TestAfterMaxUint64DoesNotWrapToTheStart(t *testing.T) {
	ctx := testsupport.Context(t)
	h := collector.NewHistory(1 << 20)
	appendN(h, 0, 3, "INFO.a")
	s := serve(t, fakeSource{h}, Options{})
	st := openStream(t, ctx, fmt.Sprintf("http://%s/api/stream?after=%d", s.Addr(), uint64(math.MaxUint64)), nil)
	appendN(h, 3, 1, "INFO.a")
	list, missed := entriesOf(t, st.next(t))
	if missed != 0 || len(list) != 1 || list[0].Seq != 4 {
		t.Fatalf("after=MaxUint64: missed %d, %d entries from seq %d; want 0 missed, seq 4 only", missed, len(list), list[0].Seq)
	}
}

// What open streams keep after one large entry went by: each keeps its
// read scratch and event buffer at their largest for its whole life.
func TestStreamsDropLargeBuffersAfterUse(t *testing.T) {
	h := collector.NewHistory(collector.DefaultHistoryBytes)
	big := fmt.Appendf(nil, `{"level":"info","msg":"%s"}`, strings.Repeat("a", 1400<<10))
	h.Append([][]byte{[]byte("INFO.a"), big}, time.Now())
	s := serve(t, fakeSource{h}, Options{})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var conns []net.Conn
	for range 16 {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "GET /api/stream?last=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		// read until the big event has gone by
		var got int
		buf := make([]byte, 32<<10)
		for got < len(big) {
			n, err := c.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	for _, c := range conns {
		c.Close()
	}
	if grew := (int64(after.HeapInuse) - int64(before.HeapInuse)) >> 20; grew > 8 {
		t.Fatalf("16 idle streams after one %d KiB entry keep %d MiB of heap (RSS goal 64 MiB)", len(big)>>10, grew)
	}
}

// The costliest kind of pattern the server still accepts (as many
// 100-count repeats as the program bound allows) stays cheap per entry,
// and one more repeat is refused with a 400 that names the pattern.
func TestGrepPatternsAcceptedCostLittlePerEntry(t *testing.T) {
	var worst string
	for n := 1; ; n++ {
		p := strings.Repeat(`[a-z]{0,100}`, n) + `Z`
		r, _ := http.NewRequest("GET", "/api/stream?grep="+url.QueryEscape(p), nil)
		if _, err := parseStreamQuery(r); err != nil {
			if !strings.Contains(err.Error(), "too costly") {
				t.Fatalf("%d repeats refused for another reason: %v", n, err)
			}
			break
		}
		worst = p
	}
	if worst == "" {
		t.Fatal("not even one 100-count repeat is accepted")
	}
	if _, err := compileGrep(`a{0,101}`); err == nil || !strings.Contains(err.Error(), "repeat count of 101") {
		t.Fatalf("a{0,101}: %v, want a refusal naming the repeat count", err)
	}
	if raceEnabled {
		return // the race detector's cost is not the server's
	}
	g := regexp.MustCompile(worst)
	line := kibLine(0)
	per := time.Hour // the fastest of some runs: other work on the machine only adds
	for range 20 {
		t0 := time.Now()
		g.Match(line)
		per = min(per, time.Since(t0))
	}
	hostile := time.Now()
	regexp.MustCompile(hostileGrep).Match(line)
	t.Logf("worst accepted grep (%d bytes): %v per 1 KiB entry; the refused hostile one: %v", len(worst), per, time.Since(hostile))
	if per > 5*time.Millisecond {
		t.Fatalf("an accepted %d-byte grep costs %v per 1 KiB entry", len(worst), per)
	}
}

// One host cannot take every connection slot: past MaxConnsPerHost its
// new connections are closed at once, and counted.
func TestOneHostCannotTakeEveryConnection(t *testing.T) {
	s := serve(t, fakeSource{collector.NewHistory(1 << 20)}, Options{MaxConns: 16, MaxConnsPerHost: 2})
	for range 2 {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a third connection from one host: read %d, %v; want it closed", n, err)
	}
	if got := s.Stats().ConnsRefused; got != 1 {
		t.Fatalf("ConnsRefused %d, want 1", got)
	}
}

// "localhost" passes the no-token rule by name; what it is bound to must
// be loopback too.
func TestLoopbackByNameMustBindLoopback(t *testing.T) {
	if !boundToLoopback(&net.TCPAddr{IP: net.IPv6loopback}) || !boundToLoopback(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}) {
		t.Fatal("a loopback address refused")
	}
	if boundToLoopback(&net.TCPAddr{IP: net.IPv4(192, 0, 2, 1)}) || boundToLoopback(&net.TCPAddr{IP: net.IPv4zero}) {
		t.Fatal("a non-loopback address taken for loopback")
	}
	s, err := Listen(fakeSource{}, Options{Addr: "localhost:0"})
	if err != nil {
		t.Fatalf("localhost:0 (loopback here): %v", err)
	}
	s.Close()
}

// With a token, a connection that has not shown it is closed after a
// short idle (unauthIdle), not the minute an authorised one may idle; a
// page file it asks for (no token needed) closes it at once.
func TestConnectionsWithoutTheTokenIdleBriefly(t *testing.T) {
	s := serve(t, fakeSource{collector.NewHistory(1 << 20)}, Options{Token: "s3cret"})
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /app.css HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") // the page's files need no token
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !res.Close {
		t.Fatalf("%s (close %v): want 200 and the connection closed", res.Status, res.Close)
	}
	// A connection that sends nothing at all.
	c, err = net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br = bufio.NewReader(c)
	t0 := time.Now()
	c.SetReadDeadline(t0.Add(unauthIdle + 5*time.Second))
	if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("an idle connection without the token: %v; want it closed by the server", err)
	}
	if d := time.Since(t0); d > unauthIdle+time.Second {
		t.Fatalf("closed after %v idle; want about %v", d, unauthIdle)
	}
}
