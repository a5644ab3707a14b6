package testcollector

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zmqlog/zmqlog/internal/zsock"
)

// WaitFor polls cond, which another goroutine or process makes true,
// until it holds; the test fails with "timed out waiting for what" when
// ctx ends first.
func WaitFor(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// Subscribe dials a SUB socket to endpoint for topics, closed when the
// test ends.
func Subscribe(t testing.TB, endpoint string, opts zsock.Options, topics ...string) *zsock.Subscriber {
	t.Helper()
	ep, err := zsock.ParseEndpoint(endpoint, false)
	if err != nil {
		t.Fatal(err)
	}
	s := zsock.DialSub([]zsock.Endpoint{ep}, topics, opts)
	t.Cleanup(func() { s.Close() })
	return s
}

// BuildAndRun is a TestMain for tests that run binaries as a user does.
// bins maps each package to build (a go build path, relative to the test's
// directory) to nothing; before the tests run, each value is set to the
// built binary's path. After them it removes the binaries and fails the
// run on leaked goroutines. Use: os.Exit(testcollector.BuildAndRun(m, bins)).
func BuildAndRun(m *testing.M, bins map[string]string, leakOpts ...goleak.Option) int {
	dir, err := os.MkdirTemp("", "zmqlog-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	for pkg := range bins {
		abs, err := filepath.Abs(pkg) // "." names the binary after its directory
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		bins[pkg] = filepath.Join(dir, filepath.Base(abs))
		if out, err := exec.Command("go", "build", "-o", bins[pkg], pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, out)
			return 1
		}
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(leakOpts...); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	return code
}
