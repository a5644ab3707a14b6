package vlsink

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// client posts batches of JSON lines to VictoriaLogs' /insert/jsonline
// on one of several insert nodes: each request goes to the next node in
// turn that is not resting after a failure, so the nodes share the load
// and a node that fails is passed over until its rest is over.
type client struct {
	http  *http.Client
	nodes []*node
	turn  atomic.Uint64
	gzip  bool
	rest  time.Duration
	zpool sync.Pool
	wire  atomic.Uint64 // bytes of request bodies as sent (compressed or not)
}

type node struct {
	base      string // as the user gave it, password redacted, for errors and metrics
	insert    string // the /insert/jsonline URL with its parameters
	restUntil atomic.Int64
	up        atomic.Bool
	requests  atomic.Uint64
	failures  atomic.Uint64
}

// insertParams tell VictoriaLogs how to read the lines: the producer's
// app and host name the stream, zap's ts (seconds, a number) or slog's
// time (RFC 3339) is the time, msg the message.
var insertParams = url.Values{
	"_stream_fields": {StreamFields},
	"_time_field":    {"ts,time"},
	"_msg_field":     {"msg"},
}.Encode()

// ParseURLs checks a comma-separated list of VictoriaLogs base URLs, as
// given to zmqcollect --victorialogs.
func ParseURLs(list string) ([]string, error) {
	var out []string
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			return nil, fmt.Errorf("VictoriaLogs URL list %q: an empty URL", list)
		}
		if !strings.Contains(raw, "://") { // host:port, the usual slip
			return nil, fmt.Errorf("VictoriaLogs URL %q: want http:// or https://, such as http://127.0.0.1:9428", raw)
		}
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("VictoriaLogs URL %q: %w", raw, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("VictoriaLogs URL %q: want http:// or https://, such as http://127.0.0.1:9428", raw)
		}
		if u.Host == "" || u.Hostname() == "" {
			return nil, fmt.Errorf("VictoriaLogs URL %q: no host", raw)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("VictoriaLogs URL %q: give the server's address only, without a query; the sink adds /insert/jsonline and its parameters", raw)
		}
		if p := strings.TrimSuffix(u.Path, "/"); strings.HasSuffix(p, "/insert/jsonline") {
			return nil, fmt.Errorf("VictoriaLogs URL %q: give the server's address, without /insert/jsonline", raw)
		}
		out = append(out, strings.TrimSuffix(raw, "/"))
	}
	return out, nil
}

// Redacted returns a URL list with any password replaced by "xxxxx", for
// logs.
func Redacted(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}

func newClient(urls []string, timeout time.Duration, inFlight int, gz bool) *client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: timeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   inFlight + 1,
		ForceAttemptHTTP2:     true,
	}
	c := &client{http: &http.Client{Transport: tr, Timeout: timeout}, gzip: gz, rest: time.Second}
	for _, u := range urls {
		shown := u
		if pu, err := url.Parse(u); err == nil {
			shown = pu.Redacted() // a password in the URL stays out of logs and metrics
		}
		n := &node{base: shown, insert: u + "/insert/jsonline?" + insertParams}
		n.up.Store(true)
		c.nodes = append(c.nodes, n)
	}
	return c
}

// pick returns the next node not resting, or the one whose rest ends
// first.
func (c *client) pick() *node {
	now := time.Now().UnixNano()
	start := int(c.turn.Add(1) % uint64(len(c.nodes)))
	best := c.nodes[start]
	for i := range c.nodes {
		n := c.nodes[(start+i)%len(c.nodes)]
		if n.restUntil.Load() <= now {
			return n
		}
		if n.restUntil.Load() < best.restUntil.Load() {
			best = n
		}
	}
	return best
}

// postError is a failed request; permanent: VictoriaLogs refused the
// request itself (400, 413 …), and sending it again would fail again.
type postError struct {
	node      string
	err       error
	permanent bool
}

func (e *postError) Error() string {
	return fmt.Sprintf("posting to VictoriaLogs %s: %v", e.node, e.err)
}

// post sends one batch to one node.
func (c *client) post(ctx context.Context, data []byte) error {
	n := c.pick()
	n.requests.Add(1)
	body, enc := data, ""
	if c.gzip {
		body, enc = c.compress(data), "gzip"
	}
	c.wire.Add(uint64(len(body)))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.insert, bytes.NewReader(body))
	if err != nil {
		return &postError{n.base, err, true}
	}
	// A form content type (curl's default) is answered 200 with nothing
	// ingested.
	req.Header.Set("Content-Type", "application/stream+json")
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.failed(n)
		return &postError{n.base, err, false}
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection is reused
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		n.up.Store(true)
		n.restUntil.Store(0)
		return nil
	}
	c.failed(n)
	permanent := resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout
	return &postError{n.base, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg)), permanent}
}

func (c *client) failed(n *node) {
	n.failures.Add(1)
	n.up.Store(false)
	n.restUntil.Store(time.Now().Add(c.rest).UnixNano())
}

func (c *client) compress(data []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(data) / 4)
	zw, _ := c.zpool.Get().(*gzip.Writer)
	if zw == nil {
		zw, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	} else {
		zw.Reset(&buf)
	}
	zw.Write(data)
	zw.Close()
	c.zpool.Put(zw)
	return buf.Bytes()
}

func (c *client) close() { c.http.CloseIdleConnections() }
