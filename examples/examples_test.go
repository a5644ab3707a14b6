// Package examples_test runs the small examples as a user would: built,
// as processes, against each other, on loopback.
package examples_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/testcollector"
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/internal/zsock"
)

// bin has the examples, built once (testcollector.BuildAndRun).
var bin = map[string]string{"./zap-writer": "", "./slog-writer": "", "./reader": "", "./broadcaster": ""}

func TestMain(m *testing.M) { os.Exit(testsupport.BuildAndRun(m, bin)) }

// server is a running reader or broadcaster.
type server struct {
	cmd    *exec.Cmd
	stdout strings.Builder
	done   chan error
}

// startServer runs an example that listens, and returns it with the
// endpoints it names on its first line of stderr.
func startServer(t *testing.T, ctx context.Context, name string, args ...string) (*server, []string) {
	t.Helper()
	s := &server{cmd: exec.CommandContext(ctx, bin["./"+name], args...), done: make(chan error, 1)}
	s.cmd.Stdout = &s.stdout
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stderr)
	if !lines.Scan() {
		t.Fatalf("%s said nothing", name)
	}
	first := lines.Text()
	go func() {
		for lines.Scan() {
			t.Log(name+":", lines.Text())
		}
		s.done <- s.cmd.Wait()
	}()
	t.Cleanup(func() {
		if s.done != nil {
			s.cmd.Process.Kill()
			<-s.done
		}
	})
	return s, regexp.MustCompile(`tcp://[^ ,]+`).FindAllString(first, -1)
}

// interrupt stops it with Ctrl-C and waits for a clean exit.
func (s *server) interrupt(t *testing.T) string {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGINT)
	if err := <-s.done; err != nil {
		t.Fatalf("%s exited with %v", s.cmd.Path, err)
	}
	s.done = nil
	return s.stdout.String()
}

// write runs a writer example to completion and checks its report.
func write(t *testing.T, ctx context.Context, name, endpoint string, count int) {
	t.Helper()
	out, err := exec.CommandContext(ctx, bin["./"+name], "--endpoint", endpoint, "--count", fmt.Sprint(count), "--every", "0").Output()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if want := fmt.Sprintf("shipped %d, sent %d, dropped 0", count, count); !strings.Contains(string(out), want) {
		t.Fatalf("%s printed %q, want %q", name, out, want)
	}
}

// Both writers send to the reader, which prints every entry as a JSON
// line: each writer's entries, at its levels.
func TestWritersToReader(t *testing.T) {
	ctx := testsupport.Context(t)
	reader, eps := startServer(t, ctx, "reader", "--pull", "tcp://127.0.0.1:0")
	if len(eps) != 1 {
		t.Fatalf("reader named endpoints %v", eps)
	}
	write(t, ctx, "zap-writer", eps[0], 8)
	write(t, ctx, "slog-writer", eps[0], 8)
	levels := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(reader.interrupt(t)), "\n") {
		var e struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("reader printed %q: %v", line, err)
		}
		levels[strings.ToLower(e.Level)+" "+e.Msg]++
	}
	want := map[string]int{
		"info working": 4, "warn slow step": 2, "error step failed": 2, // zap-writer
		"debug cache miss": 2, "info request served": 2, "warn retrying": 2, "error request failed": 2, // slog-writer
	}
	if fmt.Sprint(levels) != fmt.Sprint(want) {
		t.Fatalf("reader printed %v, want %v", levels, want)
	}
}

// The broadcaster re-publishes by level: a subscriber to ERROR gets the
// writer's errors and nothing else.
func TestWriterThroughBroadcaster(t *testing.T) {
	ctx := testsupport.Context(t)
	b, eps := startServer(t, ctx, "broadcaster", "--pull", "tcp://127.0.0.1:0", "--pub", "tcp://127.0.0.1:0")
	if len(eps) != 2 {
		t.Fatalf("broadcaster named endpoints %v", eps)
	}
	sub := testcollector.Subscribe(t, eps[1], zsock.Options{}, "ERROR")
	// Probe until the subscription is in place at the broadcaster.
	probe, err := zmqlog.NewShipper(eps[0])
	if err != nil {
		t.Fatal(err)
	}
	for {
		probe.Ship("ERROR.probe", []byte(`{"level":"error","msg":"probe"}`))
		probe.Flush(ctx)
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err := sub.Recv(short)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the subscriber never received")
		}
	}
	probe.Close()

	write(t, ctx, "zap-writer", eps[0], 8)
	var errors []string
	for len(errors) < 2 {
		m, err := sub.Recv(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", errors, err)
		}
		if topic := string(m.Frames[0]); topic != "ERROR.probe" {
			errors = append(errors, topic+" "+string(m.Frames[1]))
		}
	}
	for _, e := range errors {
		if !strings.HasPrefix(e, "ERROR.zap-writer ") || !strings.Contains(e, `"msg":"step failed"`) {
			t.Fatalf("subscriber to ERROR got %q", e)
		}
	}
	b.interrupt(t)
}
