// Package vltest runs a real VictoriaLogs for tests: the victoria-logs
// binary built from its Go module (see .ci/run), started on a free
// loopback port with a temporary data directory, queried with LogsQL, and
// stopped, killed or restarted on the same data as a test needs.
//
// The binary is $ZMQLOG_VICTORIALOGS, or victoria-logs in $(go env
// GOPATH)/bin or $(go env GOPATH)/zmqlog-ci-bin. Without one the test is
// skipped, unless ZMQLOG_REQUIRE_VICTORIALOGS=1 (CI), which makes it fail.
package vltest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Binary returns the victoria-logs binary's path, or skips (or fails, in
// CI) the test.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("ZMQLOG_VICTORIALOGS"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("ZMQLOG_VICTORIALOGS: %v", err)
		}
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, gp := range filepath.SplitList(strings.TrimSpace(string(out))) {
			for _, dir := range []string{"bin", "zmqlog-ci-bin"} {
				p := filepath.Join(gp, dir, "victoria-logs")
				if _, err := os.Stat(p); err == nil {
					return p
				}
			}
		}
	}
	const how = "go install github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@v1.52.1, or set ZMQLOG_VICTORIALOGS"
	if os.Getenv("ZMQLOG_REQUIRE_VICTORIALOGS") == "1" {
		t.Fatal("no victoria-logs binary and ZMQLOG_REQUIRE_VICTORIALOGS=1: " + how)
	}
	t.Skip("no victoria-logs binary: " + how)
	return ""
}

// queryClient keeps no idle connections, which would outlive the test.
var queryClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// Server is a VictoriaLogs process.
type Server struct {
	URL  string // http://127.0.0.1:port
	Addr string // 127.0.0.1:port
	t    testing.TB
	bin  string
	args []string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// Start starts VictoriaLogs with a temporary data directory on a free
// port and waits until it answers; extra flags are added (-storageNode
// for an insert node of a cluster, say). It is killed when the test ends.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	bin := Binary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	log, err := os.Create(filepath.Join(dir, "victoria-logs.log"))
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{URL: "http://" + addr, Addr: addr, t: t, bin: bin, log: log,
		args: append([]string{"-httpListenAddr=" + addr, "-storageDataPath=" + filepath.Join(dir, "data"), "-loggerLevel=WARN",
			"-retentionPeriod=7d", "-futureRetention=2d"}, extra...)}
	t.Cleanup(func() {
		s.Kill()
		log.Close()
		if t.Failed() {
			if b, err := os.ReadFile(log.Name()); err == nil && len(b) > 0 {
				t.Logf("victoria-logs %s said:\n%s", addr, b)
			}
		}
	})
	s.run()
	return s
}

func (s *Server) run() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, s.args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(s.cmd, s.done)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := queryClient.Get(s.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-s.done:
			s.t.Fatalf("victoria-logs %v exited at start", s.args)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatal("victoria-logs did not answer /health within 60s")
		}
	}
}

// Kill stops the process at once (SIGKILL).
func (s *Server) Kill() { s.stop(syscall.SIGKILL) }

// Stop stops the process the way an operator does (SIGTERM): it writes
// out what it holds first.
func (s *Server) Stop() { s.stop(syscall.SIGTERM) }

func (s *Server) stop(sig os.Signal) {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(sig)
	<-s.done
	s.cmd = nil
}

// Restart starts the process again on the same port and data.
func (s *Server) Restart() {
	s.t.Helper()
	s.run()
}

// Query runs a LogsQL query and returns its result rows.
func (s *Server) Query(ctx context.Context, query string) ([]map[string]string, error) {
	form := url.Values{"query": {query}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/select/logsql/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := queryClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("query %q: %s: %s", query, resp.Status, body)
	}
	var rows []map[string]string
	dec := json.NewDecoder(strings.NewReader(string(body)))
	for dec.More() {
		var row map[string]string
		if err := dec.Decode(&row); err != nil {
			return nil, fmt.Errorf("query %q: %w", query, err)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// Counts runs "filter | stats by (field) count() n" and returns the
// count per value of field ("" for no field: the total under key "").
func (s *Server) Counts(ctx context.Context, filter, field string) (map[string]uint64, error) {
	q := filter + " | stats count() n"
	if field != "" {
		q = filter + " | stats by (" + field + ") count() n"
	}
	rows, err := s.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, r := range rows {
		n, err := strconv.ParseUint(r["n"], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("query %q: count %q", q, r["n"])
		}
		out[r[field]] += n
	}
	return out, nil
}

// Count returns how many entries match filter.
func (s *Server) Count(ctx context.Context, filter string) (uint64, error) {
	m, err := s.Counts(ctx, filter, "")
	return m[""], err
}

// WaitCount polls Count until it reaches want (new data becomes
// searchable after a short delay) and returns the count then, which is
// above want if entries arrived twice. It fails the test when ctx ends.
func (s *Server) WaitCount(t testing.TB, ctx context.Context, filter string, want uint64) uint64 {
	t.Helper()
	var last uint64
	for {
		n, err := s.Count(ctx, filter)
		if err == nil && n >= want {
			return n
		}
		if err == nil {
			last = n
		}
		select {
		case <-ctx.Done():
			t.Fatalf("VictoriaLogs has %d entries matching %q, want %d (last error: %v)", last, filter, want, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
