package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/zmqlog/zmqlog/collector"
	"github.com/zmqlog/zmqlog/internal/testsupport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// client keeps no idle connections, whose goroutines would outlive a test.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// fakeSource is a collector's History without its sockets.
type fakeSource struct{ h *collector.History }

func (f fakeSource) History() *collector.History { return f.h }
func (f fakeSource) Stats() collector.Stats      { return collector.Stats{} }

func appendN(h *collector.History, from, n int, tp string) {
	frames := make([][]byte, 0, 2*n)
	for i := from; i < from+n; i++ {
		frames = append(frames, []byte(tp), fmt.Appendf(nil, `{"level":"info","msg":"m","i":%d}`, i))
	}
	h.Append(frames, time.Now())
}

func serve(t *testing.T, src Source, o Options) *Server {
	t.Helper()
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	return serveWith(t, Listen, src, o)
}

// serveMetrics is serve for ListenMetrics: /metrics alone.
func serveMetrics(t *testing.T, o Options) *Server {
	t.Helper()
	o.Addr = "127.0.0.1:0"
	return serveWith(t, ListenMetrics, fakeSource{}, o)
}

// serveWith makes a server with listen and serves it until the test ends.
func serveWith(t *testing.T, listen func(Source, Options) (*Server, error), src Source, o Options) *Server {
	t.Helper()
	s, err := listen(src, o)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); s.Serve() }()
	t.Cleanup(func() { s.Close(); <-served })
	return s
}

// okMetrics stands for the collector's /metrics.
var okMetrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "zmqlog_ok 1\n") })

type event struct {
	name, id string
	data     map[string]json.RawMessage
}

// sse reads events from a stream.
type sse struct {
	sc   *bufio.Scanner
	body io.Closer
}

func openStream(t *testing.T, ctx context.Context, url string, header http.Header) *sse {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Fatalf("GET %s: %s %s", url, res.Status, b)
	}
	t.Cleanup(func() { res.Body.Close() })
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 16<<20)
	return &sse{sc: sc, body: res.Body}
}

func (s *sse) next(t *testing.T) event {
	t.Helper()
	var e event
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "":
			if e.name != "" {
				return e
			}
		case strings.HasPrefix(line, "event: "):
			e.name = line[7:]
		case strings.HasPrefix(line, "id: "):
			e.id = line[4:]
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(line[6:]), &e.data); err != nil {
				t.Fatalf("data is not JSON: %v: %.200s…", err, line)
			}
		}
	}
	t.Fatalf("stream ended: %v", s.sc.Err())
	return e
}

type sentEntry struct {
	Seq   uint64          `json:"seq"`
	Topic string          `json:"topic"`
	Entry json.RawMessage `json:"entry"`
}

func entriesOf(t *testing.T, e event) (list []sentEntry, missed uint64) {
	t.Helper()
	json.Unmarshal(e.data["missed"], &missed)
	if err := json.Unmarshal(e.data["entries"], &list); err != nil {
		t.Fatal(err)
	}
	return list, missed
}

// A stream asked for the last entries sends them, then every entry that
// arrives, as one sequence: none twice, none skipped.
func TestStreamHistoryThenLiveWithoutSeam(t *testing.T) {
	ctx := testsupport.Context(t)
	h := collector.NewHistory(32 << 20)
	appendN(h, 0, 50000, "INFO.a")
	s := serve(t, fakeSource{h}, Options{MaxLag: 1 << 20}) // this test is about the seam, not a slow reader
	// A history of several chunks, read while the producer goes on.
	st := openStream(t, ctx, "http://"+s.Addr()+"/api/stream?last=30000", nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 50000; i < 100000; i += 50 {
			appendN(h, i, 50, "INFO.a")
		}
	}()
	want := uint64(20001)
	for want <= 100000 {
		list, missed := entriesOf(t, st.next(t))
		if missed != 0 {
			t.Fatalf("missed %d", missed)
		}
		for _, e := range list {
			if e.Seq != want {
				t.Fatalf("got position %d, want %d", e.Seq, want)
			}
			var v struct{ I int }
			json.Unmarshal(e.Entry, &v)
			if v.I != int(want-1) {
				t.Fatalf("position %d holds entry %d", e.Seq, v.I)
			}
			want++
		}
	}
	<-done
}

// last counts what every filter keeps, the pattern too, however far back
// it has to look.
func TestStreamLastCountsAfterGrep(t *testing.T) {
	ctx := testsupport.Context(t)
	h := collector.NewHistory(8 << 20)
	appendN(h, 0, 20000, "INFO.a") // entries i = 0…19999
	s := serve(t, fakeSource{h}, Options{})
	// Three entries match, the newest of them 19,000 entries back.
	st := openStream(t, ctx, "http://"+s.Addr()+"/api/stream?last=2&grep="+url.QueryEscape(`"i":(7|77|777)}`), nil)
	list, _ := entriesOf(t, st.next(t))
	var got []string
	for _, e := range list {
		got = append(got, string(e.Entry))
	}
	if strings.Join(got, " ") != `{"level":"info","msg":"m","i":77} {"level":"info","msg":"m","i":777}` {
		t.Fatalf("got %q", got)
	}
}

func TestStreamFiltersByLevelAppAndGrep(t *testing.T) {
	ctx := testsupport.Context(t)
	h := collector.NewHistory(1 << 20)
	h.Append([][]byte{
		[]byte("INFO.a"), []byte(`{"msg":"one"}`), []byte("ERROR.a"), []byte(`{"msg":"two"}`),
		[]byte("ERROR.b"), []byte(`{"msg":"three"}`), []byte("ERROR+4.a"), []byte(`{"msg":"four"}`),
	}, time.Now())
	s := serve(t, fakeSource{h}, Options{})
	st := openStream(t, ctx, "http://"+s.Addr()+"/api/stream?last=10&level=error&app=a&grep=f.ur|tw", nil)
	list, _ := entriesOf(t, st.next(t))
	var got []string
	for _, e := range list {
		got = append(got, string(e.Entry))
	}
	if strings.Join(got, " ") != `{"msg":"two"} {"msg":"four"}` {
		t.Fatalf("got %q", got)
	}
}

// A client that stops reading costs ingest nothing: appending goes on at
// full speed, and when it reads again it is told how many it missed.
func TestSlowStreamMissesAndIsToldHowMany(t *testing.T) {
	ctx := testsupport.Context(t)
	h := collector.NewHistory(64 << 20)
	s := serve(t, fakeSource{h}, Options{MaxLag: 1000})
	// A raw connection that nobody reads while the entries arrive: the
	// socket buffers between it and the server hold a few MiB at most.
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	testsupport.WaitFor(t, ctx, "the stream to open", func() bool { return s.Stats().Streams == 1 })
	const total = 200_000
	start := time.Now()
	for i := 0; i < total; i += 1000 {
		appendN(h, i, 1000, "INFO.a")
	}
	t.Logf("appended %d entries in %v with a stalled reader", total, time.Since(start))
	br := bufio.NewReaderSize(conn, 1<<20)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Not res.Body.Close: it would read the endless stream to its end;
	// closing conn ends it.
	// Counted without decoding: the race detector makes decoding 300,000
	// entries slower than the server's write timeout.
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 16<<20)
	var got, missed uint64
	for got+missed < total && sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), `data: {"missed":`)
		if !ok {
			continue
		}
		m, _ := strconv.ParseUint(line[:strings.IndexByte(line, ',')], 10, 64)
		missed += m
		got += uint64(strings.Count(line, `{"seq":`))
	}
	if missed == 0 || got+missed != total {
		t.Fatalf("got %d and missed %d of %d", got, missed, total)
	}
	if s.Stats().Missed != missed {
		t.Errorf("server counted %d missed, the client was told %d", s.Stats().Missed, missed)
	}
	t.Logf("the stalled client got %d, missed %d", got, missed)
}

func get(t *testing.T, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	if hs := header.Get("Host"); hs != "" {
		req.Host = hs
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res, string(b)
}

func TestPageIsEmbeddedWithSecurityHeaders(t *testing.T) {
	s := serve(t, fakeSource{collector.NewHistory(1 << 20)}, Options{})
	for _, p := range []string{"/", "/app.js", "/app.css", "/favicon.svg"} {
		res, body := get(t, "http://"+s.Addr()+p, nil)
		if res.StatusCode != 200 || len(body) < 100 {
			t.Fatalf("GET %s: %s, %d bytes", p, res.Status, len(body))
		}
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", p, csp, want)
			}
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", p)
		}
	}
	_, page := get(t, "http://"+s.Addr()+"/", nil)
	if strings.Contains(page, "<script>") || strings.Contains(page, "http://") && strings.Contains(page, "src=\"http") {
		t.Error("the page has inline script or loads from elsewhere")
	}
	if res, _ := get(t, "http://"+s.Addr()+"/secret", nil); res.StatusCode != 404 {
		t.Errorf("GET /secret: %s", res.Status)
	}
}

func TestLoopbackRefusesOtherHostsAndOrigins(t *testing.T) {
	s := serve(t, fakeSource{collector.NewHistory(1 << 20)}, Options{})
	base := "http://" + s.Addr()
	for _, tc := range []struct {
		name   string
		header http.Header
		path   string
		want   int
	}{
		{"rebound name", http.Header{"Host": {"evil.example:9559"}}, "/", http.StatusMisdirectedRequest},
		{"rebound name on the api", http.Header{"Host": {"evil.example"}}, "/api/stream?last=1", http.StatusMisdirectedRequest},
		{"other origin", http.Header{"Origin": {"http://evil.example"}}, "/api/stream?last=1", http.StatusForbidden},
		{"cross-site fetch", http.Header{"Sec-Fetch-Site": {"cross-site"}}, "/api/stream?last=1", http.StatusForbidden},
		{"localhost", http.Header{"Host": {"localhost:9559"}}, "/", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if res, _ := get(t, base+tc.path, tc.header); res.StatusCode != tc.want {
				t.Errorf("got %s, want %d", res.Status, tc.want)
			}
		})
	}
	if s.Stats().RefusedHost != 4 {
		t.Errorf("refused %d, want 4 counted", s.Stats().RefusedHost)
	}
}

func TestTokenRequiredOffLoopbackAndChecked(t *testing.T) {
	if _, err := Listen(fakeSource{}, Options{Addr: "0.0.0.0:0"}); !errors.Is(err, ErrTokenRequired) {
		t.Fatalf("0.0.0.0 without a token: %v", err)
	}
	if _, err := Listen(fakeSource{}, Options{Addr: ":0"}); !errors.Is(err, ErrTokenRequired) {
		t.Fatalf(":0 without a token: %v", err)
	}
	s := serve(t, fakeSource{collector.NewHistory(1 << 20)}, Options{Token: "s3cret", Metrics: okMetrics})
	base := "http://" + s.Addr()
	for _, tc := range []struct {
		name, path, auth string
		want             int
	}{
		{"no token", "/api/stream?last=1", "", 401},
		{"wrong token", "/api/stream?last=1", "Bearer s3cres", 401},
		{"token in the query is not taken", "/api/stream?last=1&token=s3cret", "", 401},
		{"metrics without", "/metrics", "", 401},
		{"metrics with", "/metrics", "Bearer s3cret", 200},
		{"the page itself holds no data", "/", "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.auth != "" {
				h.Set("Authorization", tc.auth)
			}
			if res, _ := get(t, base+tc.path, h); res.StatusCode != tc.want {
				t.Errorf("got %s, want %d", res.Status, tc.want)
			}
		})
	}
	ctx := testsupport.Context(t)
	openStream(t, ctx, base+"/api/stream?last=1", http.Header{"Authorization": {"Bearer s3cret"}})
}

func TestStreamsAndRequestsAreBounded(t *testing.T) {
	ctx := testsupport.Context(t)
	s := serve(t, fakeSource{collector.NewHistory(1 << 20)}, Options{MaxStreams: 1, RequestsPerSecond: 1000})
	base := "http://" + s.Addr()
	openStream(t, ctx, base+"/api/stream", nil)
	if res, _ := get(t, base+"/api/stream", nil); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a second stream over MaxStreams 1: %s", res.Status)
	}
	for _, q := range []string{"grep=" + strings.Repeat("a", maxGrepBytes+1), "grep=(", "level=loud", "last=-1", "since=1y",
		strings.Repeat("app=a&", maxApps+1), "x=" + strings.Repeat("a", maxQueryBytes)} {
		if res, body := get(t, base+"/api/stream?"+q, nil); res.StatusCode != 400 {
			t.Errorf("%.40s…: %s %s", q, res.Status, body)
		}
	}
	res, err := client.Post(base+"/api/stream", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 405 {
		t.Errorf("POST: %s", res.Status)
	}
	if s.Stats().Busy != 1 {
		t.Errorf("busy %d, want 1", s.Stats().Busy)
	}
}

func TestTokenBucket(t *testing.T) {
	b := newTokenBucket(2, 4)
	now := time.Unix(1000, 0)
	n := 0
	for b.allow(now) {
		n++
	}
	if n != 4 {
		t.Fatalf("burst %d, want 4", n)
	}
	if !b.allow(now.Add(500*time.Millisecond)) || b.allow(now.Add(500*time.Millisecond)) {
		t.Fatal("half a second at 2/s should allow exactly one more")
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:9559": true, "[::1]:9559": true, "localhost:9559": true,
		":9559": false, "0.0.0.0:9559": false, "10.0.0.5:9559": false, "example.com:9559": false, "bad": false} {
		if IsLoopback(addr) != want {
			t.Errorf("IsLoopback(%q) = %v", addr, !want)
		}
	}
}

func TestMetricsCountStreamsAndHistory(t *testing.T) {
	h := collector.NewHistory(1 << 20)
	appendN(h, 0, 10, "INFO.a")
	src := fakeSource{h}
	s := serve(t, src, Options{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	get(t, "http://"+s.Addr()+"/", http.Header{"Host": {"evil.example"}})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			name := mf.GetName()
			for _, l := range m.Label {
				name += "/" + l.GetValue()
			}
			got[name] = v
		}
	}
	if got["zmqlog_history_entries"] != 10 || got["zmqlog_http_requests_refused_total/host_or_origin"] != 1 {
		t.Errorf("metrics %v", got)
	}
}

// ListenMetrics serves /metrics and nothing else (no page, no stream of
// entries), under the same rules for the address and the token, and
// without the page's request rate limit, which a scraper polling on
// loopback would otherwise meet.
func TestListenMetricsServesMetricsAlone(t *testing.T) {
	if _, err := ListenMetrics(fakeSource{}, Options{Addr: ":0", Metrics: okMetrics}); !errors.Is(err, ErrTokenRequired) {
		t.Fatalf(":0 without a token: %v", err)
	}
	s := serveMetrics(t, Options{Metrics: okMetrics, RequestsPerSecond: 1})
	base := "http://" + s.Addr()
	for _, path := range []string{"/", "/app.js", "/api/stream?last=1"} {
		if res, _ := get(t, base+path, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s, want 404", path, res.Status)
		}
	}
	for i := range 10 { // past RequestsPerSecond's burst
		if res, body := get(t, base+"/metrics", nil); res.StatusCode != http.StatusOK || body != "zmqlog_ok 1\n" {
			t.Fatalf("scrape %d: %s %q", i, res.Status, body)
		}
	}
}

// rawRequest sends req on a connection of its own and reads until the
// server closes it, within a bound: it returns the response's status
// line and headers, and whether the server closed the connection (false:
// it was still open when the bound ran out).
func rawRequest(t *testing.T, addr, req string) (head string, closed bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // a refused client is closed at once; this only bounds a failure
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		head += line
		if err != nil || line == "\r\n" {
			break
		}
	}
	_, err = io.Copy(io.Discard, r)
	return strings.TrimSpace(head), err == nil
}

// A client that announces a body and never sends it is refused and
// closed at once, on every path, those that need no token included:
// net/http reads an announced body before it answers, with no deadline,
// so it would let the client keep its slot for good, and with 64 of them
// every slot.
func TestRefusedRequestWithABodyNeverSentKeepsNoSlot(t *testing.T) {
	page := serve(t, fakeSource{collector.NewHistory(1 << 20)}, Options{Token: "s3cret", Metrics: okMetrics})
	only := serveMetrics(t, Options{Token: "s3cret", Metrics: okMetrics})
	for _, tc := range []struct{ name, addr, path string }{
		{"the page", page.Addr(), "/"},
		{"the page's script", page.Addr(), "/app.js"},
		{"the page's stream", page.Addr(), "/api/stream?last=1"},
		{"the page's metrics", page.Addr(), "/metrics"},
		{"--metrics", only.Addr(), "/metrics"},
	} {
		for _, body := range []string{"Content-Length: 100", "Transfer-Encoding: chunked"} {
			head, closed := rawRequest(t, tc.addr, "GET "+tc.path+" HTTP/1.1\r\nHost: 127.0.0.1\r\n"+body+"\r\n\r\n")
			if !strings.HasPrefix(head, "HTTP/1.1 400 ") || !closed {
				t.Errorf("%s, %s and none sent: %q, closed %v; want 400 and the connection closed", tc.name, body, head, closed)
			}
		}
	}
	if n := page.Stats().WithBody; n != 8 {
		t.Errorf("the page counted %d requests with a body, want 8", n)
	}
}

// With a token, a connection that has not shown it is closed after each
// of the page's files (which need no token), so a client asking for them
// every few seconds keeps no slot; one that has shown it keeps its
// connection.
func TestPageClosesTokenlessConnectionsAfterEachFile(t *testing.T) {
	s := serve(t, fakeSource{collector.NewHistory(1 << 20)}, Options{Token: "s3cret", Metrics: okMetrics})
	for _, path := range []string{"/", "/app.js", "/no-such-file"} {
		head, closed := rawRequest(t, s.Addr(), "GET "+path+" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		if !strings.Contains(head, "\r\nConnection: close") || !closed {
			t.Errorf("%s without the token: %q, closed %v; want Connection: close", path, head, closed)
		}
	}
	// Shown once on a connection, the token lets it stay open for the page.
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	for _, req := range []string{
		"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer s3cret\r\n\r\n",
		"GET /app.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
	} {
		io.WriteString(conn, req)
		res, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.Close {
			t.Errorf("%q on a connection that showed the token: closed after it", strings.SplitN(req, "\r\n", 2)[0])
		}
	}
}

// On ListenMetrics' port every path wants the token, so a client without
// it cannot keep a connection by asking for pages that do not exist; a
// method other than GET is refused and counted.
func TestListenMetricsRefusesEveryPathWithoutTheToken(t *testing.T) {
	s := serveMetrics(t, Options{Token: "s3cret", Metrics: okMetrics})
	for _, path := range []string{"/", "/index.html", "/api/stream?last=1", "/metrics/"} {
		head, closed := rawRequest(t, s.Addr(), "GET "+path+" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		if !strings.HasPrefix(head, "HTTP/1.1 401 ") || !closed {
			t.Errorf("%s without the token: %q, closed %v; want 401 and the connection closed", path, head, closed)
		}
	}
	if res, _ := get(t, "http://"+s.Addr()+"/", http.Header{"Authorization": {"Bearer s3cret"}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("/ with the token: %s, want 404", res.Status)
	}
	head, _ := rawRequest(t, s.Addr(), "POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
	if !strings.HasPrefix(head, "HTTP/1.1 405 ") {
		t.Errorf("POST: %q, want 405", head)
	}
	if st := s.Stats(); st.Unauthorized != 4 || st.BadMethod != 1 {
		t.Errorf("counted %d unauthorized and %d bad methods, want 4 and 1", st.Unauthorized, st.BadMethod)
	}
}

// Close returns only once every handler has: a /metrics scrape still
// gathering when the server closes does not run on after Close.
func TestCloseWaitsForHandlersInProgress(t *testing.T) {
	entered := make(chan struct{})
	var finished atomic.Bool
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()               // Close ends the request's connection...
		time.Sleep(100 * time.Millisecond) // ...while the gathering goes on a while
		finished.Store(true)
	})
	s, err := ListenMetrics(fakeSource{}, Options{Addr: "127.0.0.1:0", Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); s.Serve() }()
	go client.Get("http://" + s.Addr() + "/metrics") // fails once the server closes
	<-entered
	s.Close()
	if !finished.Load() {
		t.Fatal("Close returned while a handler was still running")
	}
	<-served
}
