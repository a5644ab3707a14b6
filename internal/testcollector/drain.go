package testcollector

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/zsock"
	"github.com/zmqlog/zmqlog/wire"
)

const (
	drainEnv      = "ZMQLOG_TEST_DRAIN"
	drainCurveEnv = "ZMQLOG_TEST_DRAIN_CURVE" // the server's secret key, hex: the drain speaks CURVE
)

// RunDrainIfAsked makes this test binary a collector when StartDrain
// started it: it receives and decodes everything, until its stdin closes,
// then prints how many entries it got and exits. Call it first thing in
// TestMain.
func RunDrainIfAsked() {
	if os.Getenv(drainEnv) == "" {
		return
	}
	ep, _ := zsock.ParseEndpoint("tcp://127.0.0.1:0", true)
	var opts zsock.Options
	if h := os.Getenv(drainCurveEnv); h != "" {
		secret, err := hex.DecodeString(h)
		if err != nil || len(secret) != 32 {
			fmt.Fprintln(os.Stderr, "drain: bad", drainCurveEnv)
			os.Exit(2)
		}
		opts.Curve = &zsock.CurveConfig{SecretKey: [32]byte(secret)} // any client
	}
	pull, err := zsock.ListenPull(ep, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(pull.Endpoint())
	// Once stdin closes, take what is still arriving until 200ms pass
	// with nothing: the parent flushed before it closed stdin.
	var closed atomic.Bool
	go func() {
		io.Copy(io.Discard, os.Stdin)
		closed.Store(true)
	}()
	var entries uint64
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		m, err := pull.Recv(ctx)
		cancel()
		if err != nil {
			if closed.Load() {
				break
			}
			continue
		}
		if b, err := wire.Decode(m.Frames); err == nil {
			entries += uint64(b.Count)
		}
	}
	pull.Close()
	fmt.Println(entries)
	os.Exit(0)
}

// Drain is a collector running in a child process, so that its work is
// not counted in the measured process.
type Drain struct {
	Endpoint string
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	out      *bufio.Scanner
}

// StartDrain starts this test binary as a collector (see RunDrainIfAsked).
func StartDrain(tb testing.TB) *Drain {
	tb.Helper()
	return startDrain(tb, drainEnv+"=1")
}

// StartCurveDrain is StartDrain speaking CURVE as the server whose secret
// key is serverSecret, taking any client.
func StartCurveDrain(tb testing.TB, serverSecret [32]byte) *Drain {
	tb.Helper()
	return startDrain(tb, drainEnv+"=1", drainCurveEnv+"="+hex.EncodeToString(serverSecret[:]))
}

func startDrain(tb testing.TB, env ...string) *Drain {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	d := &Drain{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	tb.Cleanup(func() { d.Stop() })
	if !d.out.Scan() {
		tb.Fatal("drain process printed no endpoint")
	}
	d.Endpoint = strings.TrimSpace(d.out.Text())
	return d
}

// Stop ends the child and returns how many entries it received.
func (d *Drain) Stop() uint64 {
	if d.stdin == nil {
		return 0
	}
	d.stdin.Close()
	d.stdin = nil
	var n uint64
	if d.out.Scan() {
		n, _ = strconv.ParseUint(strings.TrimSpace(d.out.Text()), 10, 64)
	}
	d.cmd.Wait()
	return n
}

// StopAndCheck ends the child, reports the share of shipped entries the
// producer dropped, and fails b unless the child received every entry the
// producer counts as sent.
func (d *Drain) StopAndCheck(b *testing.B, shipped, sent, dropped uint64) {
	b.Helper()
	b.ReportMetric(float64(dropped)/float64(shipped)*100, "%dropped")
	if got := d.Stop(); got != sent {
		b.Errorf("collector received %d entries, the producer sent %d", got, sent)
	}
}
