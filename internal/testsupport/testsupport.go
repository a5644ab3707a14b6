// Package testsupport is what every test here shares, and depends on
// nothing of zmqlog's, so the socket layer's own tests can use it too: a
// bounded context that checks for leaked goroutines, waiting on a
// condition another goroutine or process makes true, ipc paths short
// enough for a Unix socket, and a TestMain that builds the binaries a test
// runs as a user would.
package testsupport

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Context returns a context that bounds a test's waiting: it ends after
// 90 seconds, or when the test does. It also checks, after the test and
// all its cleanups, that the test left no goroutine behind (goleak),
// besides lumberjack's file mill, which its Close does not stop.
func Context(t testing.TB) context.Context {
	t.Helper()
	if tt, ok := t.(*testing.T); ok {
		// Registered first, so it runs after every other cleanup.
		before := goleak.IgnoreCurrent()
		tt.Cleanup(func() {
			goleak.VerifyNone(tt, before, goleak.IgnoreTopFunction("gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun"))
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

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

// IPC returns an ipc endpoint in a fresh temporary directory (short enough
// for a Unix socket path), removed when the test ends.
func IPC(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "zl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return "ipc://" + filepath.Join(dir, name)
}

// BuildAndRun is a TestMain for tests that run binaries as a user does.
// bins maps each package to build (a go build path, relative to the test's
// directory) to nothing; before the tests run, each value is set to the
// built binary's path. After them it removes the binaries and fails the
// run on leaked goroutines. Use: os.Exit(testsupport.BuildAndRun(m, bins)).
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
