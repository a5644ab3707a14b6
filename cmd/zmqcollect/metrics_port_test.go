package main

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/testsupport"
)

// --metrics is a port like the others: a client that opens connections
// and sends nothing cannot hold more than a host's share of its slots
// (each one a goroutine and a file descriptor of the collector, which
// the PULL port needs too). Past MaxConnsPerHost (16) a connection is
// closed at once and counted, and a scrape still gets through once the
// flood ends.
func TestMetricsPortHoldsAHostsShareOfConnections(t *testing.T) {
	ctx := testsupport.Context(t)
	c := startCollector(t, ctx)
	u, err := url.Parse(c.metrics)
	if err != nil {
		t.Fatal(err)
	}
	const flood, perHost = 40, 16
	closed := make(chan struct{}, flood)
	var conns []net.Conn
	for range flood {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		go func() {
			io.Copy(io.Discard, conn) // returns when either side closes
			closed <- struct{}{}
		}()
	}
	for range flood - perHost { // the connections past the share, closed by the collector
		select {
		case <-closed:
		case <-ctx.Done():
			t.Fatalf("the collector held more than %d idle connections from one host on --metrics", perHost)
		}
	}
	for _, conn := range conns {
		conn.Close()
	}
	for range perHost {
		<-closed
	}
	// Our side has closed; the collector frees the slots as it notices,
	// and a scrape until then may still be over the share (and counted).
	refusedScrapes := 0
	n, err := c.tryMetric(`zmqlog_metrics_requests_refused_total{reason="conns_per_host"}`)
	for ; err != nil; n, err = c.tryMetric(`zmqlog_metrics_requests_refused_total{reason="conns_per_host"}`) {
		refusedScrapes++
		select {
		case <-ctx.Done():
			t.Fatalf("no scrape got through after the flood ended: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if n != float64(flood-perHost+refusedScrapes) {
		t.Fatalf("%v connections counted as refused, want %d (and %d scrapes refused before the slots were freed)", n, flood-perHost+refusedScrapes, refusedScrapes)
	}
}

// With --http-token, --metrics answers only a request that carries it
// (as Prometheus sends it: Authorization: Bearer), and on loopback only
// requests naming a loopback host, so that a web page re-binding its own
// name to 127.0.0.1 cannot read the producers' names; each refusal is
// counted.
func TestMetricsPortWantsTheTokenAndALoopbackHost(t *testing.T) {
	ctx := testsupport.Context(t)
	c := startCollector(t, ctx, "--http-token", "s3cret-t0ken")
	get := func(host, auth string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, "GET", c.metrics, nil)
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	for _, tc := range []struct {
		what, host, auth string
		code             int
	}{
		{"no token", "", "", http.StatusUnauthorized},
		{"a wrong token", "", "Bearer s3cret-t0keN", http.StatusUnauthorized},
		{"the token, naming another host", "attacker.example:9557", "Bearer s3cret-t0ken", http.StatusMisdirectedRequest},
	} {
		if code, body := get(tc.host, tc.auth); code != tc.code || strings.Contains(body, "zmqlog_collector_") {
			t.Errorf("%s: %d %.200q, want %d and no metrics", tc.what, code, body, tc.code)
		}
	}
	code, body := get("", "Bearer s3cret-t0ken")
	if code != http.StatusOK {
		t.Fatalf("with the token: %d %.200q", code, body)
	}
	for _, want := range []string{
		`zmqlog_collector_entries_received_total 0`,
		`zmqlog_metrics_requests_refused_total{reason="unauthorized"} 2`,
		`zmqlog_metrics_requests_refused_total{reason="host_or_origin"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("the scrape lacks %q", want)
		}
	}
}
