package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/pyzmq"
	"github.com/zmqlog/zmqlog/internal/zcert"
)

// keygenRun runs the built zmqcollect with args in dir, as a user would.
func keygenRun(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins["."], args...)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("zmqcollect %q: %v", args, err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// TestKeygenWritesCertificatesPyzmqLoads: zmqcollect keygen NAME writes
// NAME.key and NAME.key_secret (0600) in the current directory, prints
// the public key and both paths, and pyzmq's zmq.auth reads the same keys.
func TestKeygenWritesCertificatesPyzmqLoads(t *testing.T) {
	dir := t.TempDir()
	stdout, stderr, code := keygenRun(t, dir, "keygen", "app1")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	pubPath, secPath := filepath.Join(dir, "app1.key"), filepath.Join(dir, "app1.key_secret")
	pair, err := zcert.LoadSecret(secPath) // also checks the mode is private
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(secPath); fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, want 0600", fi.Mode().Perm())
	}
	if pub, err := zcert.LoadPublic(pubPath); err != nil || pub != pair.Public {
		t.Fatalf("app1.key holds %v, %v; want %v", pub, err, pair.Public)
	}
	want := "public key: " + pair.Public.String() + "\npublic certificate: " + pubPath + "\nsecret certificate: " + secPath + " (mode 0600; keep it private)\n"
	if stdout != want {
		t.Fatalf("printed\n%s\nwant\n%s", stdout, want)
	}
	if strings.Contains(stdout+stderr, pair.Secret.String()) {
		t.Fatal("keygen printed the secret key")
	}

	pyzmq.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, pyzmq.Python, "-c", `
import sys, zmq, zmq.auth
p, s = zmq.auth.load_certificate(sys.argv[1])
assert zmq.curve_public(s) == p, "libzmq derives another public key"
print(p.decode(), s.decode(), zmq.auth.load_certificate(sys.argv[2])[0].decode())
`, secPath, pubPath).Output()
	if err != nil {
		t.Fatalf("pyzmq: %v", err)
	}
	if got, w := strings.TrimSpace(string(out)), pair.Public.String()+" "+pair.Secret.String()+" "+pair.Public.String(); got != w {
		t.Fatalf("pyzmq read %q, want %q", got, w)
	}
}

func TestKeygenRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	if _, stderr, code := keygenRun(t, dir, "keygen", "c"); code != 0 {
		t.Fatalf("first keygen: exit %d, %s", code, stderr)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "c.key_secret"))
	stdout, stderr, code := keygenRun(t, dir, "keygen", "c")
	path := filepath.Join(dir, "c.key")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "zmqcollect keygen: "+path+": already exists; not overwriting") {
		t.Fatalf("second keygen: exit %d, stdout %q, stderr %q; want exit 1 naming %s", code, stdout, stderr, path)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "c.key_secret")); !bytes.Equal(before, after) {
		t.Fatal("the secret file was overwritten")
	}
}

func TestKeygenRefusesBadNames(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"keygen"}, "takes one NAME"},
		{[]string{"keygen", "a", "b"}, "takes one NAME"},
		{[]string{"keygen", ""}, "may not be empty"},
		{[]string{"keygen", "../x"}, `"../x" holds a path separator`},
		{[]string{"keygen", "/etc/x"}, "path separator"},
		{[]string{"keygen", "--", "-x"}, `may not start with "-"`},
	} {
		stdout, stderr, code := keygenRun(t, dir, c.args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, c.says) {
			t.Errorf("zmqcollect %q: exit %d, stderr %q; want exit 2 saying %q", c.args, code, stderr, c.says)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("bad names wrote %d files", len(entries))
	}
	if _, stderr, code := keygenRun(t, dir, "keygen", "--help"); code != 0 || !strings.Contains(stderr, "Usage: zmqcollect keygen NAME") {
		t.Fatalf("keygen --help: exit %d, %q", code, stderr)
	}
}
