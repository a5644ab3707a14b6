package zcert

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/pyzmq"
)

// python runs a pyzmq snippet and returns its output's lines.
func python(t *testing.T, script string, args ...string) []string {
	t.Helper()
	pyzmq.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pyzmq.Python, append([]string{"-c", script}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("pyzmq: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("pyzmq: %v", err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestLoadsPyzmqCertificates: files made by pyzmq's create_certificates
// load here, with the keys pyzmq's load_certificate reads from them; the
// secret file, which pyzmq leaves at the umask's mode, loads once chmod 600.
func TestLoadsPyzmqCertificates(t *testing.T) {
	dir := t.TempDir()
	lines := python(t, `
import sys, os, zmq.auth
os.umask(0o022)
pub, sec = zmq.auth.create_certificates(sys.argv[1], "server", metadata={"role": "collector"})
p, _ = zmq.auth.load_certificate(pub)
p2, s = zmq.auth.load_certificate(sec)
print(p.decode()); print(p2.decode()); print(s.decode())
`, dir)
	if len(lines) != 3 || lines[0] != lines[1] {
		t.Fatalf("pyzmq printed %q", lines)
	}
	pub, sec := mustKey(t, lines[0]), mustKey(t, lines[2])
	pubPath, secPath := filepath.Join(dir, "server.key"), filepath.Join(dir, "server.key_secret")

	if got, err := LoadPublic(pubPath); err != nil || got != pub {
		t.Fatalf("LoadPublic(pyzmq's server.key) = %v, %v; want %v", got, err, pub)
	}
	if got, err := LoadPublic(secPath); err != nil || got != pub {
		t.Fatalf("LoadPublic(pyzmq's server.key_secret) = %v, %v; want %v", got, err, pub)
	}
	_, err := LoadSecret(secPath)
	if !errors.Is(err, ErrSecretExposed) || !strings.Contains(err.Error(), "mode 0644") || !strings.Contains(err.Error(), "chmod 600 "+secPath) {
		t.Fatalf("LoadSecret(pyzmq's 0644 secret file) = %v; want it refused with the mode and the chmod fix", err)
	}
	if err := os.Chmod(secPath, 0o600); err != nil {
		t.Fatal(err)
	}
	pair, err := LoadSecret(secPath)
	if err != nil || pair.Public != pub || pair.Secret != sec {
		t.Fatalf("LoadSecret(pyzmq's server.key_secret, 0600) = %v, %v; want public %v", pair, err, pub)
	}
}

// TestPyzmqLoadsOurCertificates: files WriteFiles makes load in pyzmq's
// load_certificate and in czmq's layout rules, with our keys.
func TestPyzmqLoadsOurCertificates(t *testing.T) {
	dir := t.TempDir()
	pair, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	pubPath, secPath, err := WriteFiles(dir, "app", pair)
	if err != nil {
		t.Fatal(err)
	}
	if pubPath != filepath.Join(dir, "app.key") || secPath != filepath.Join(dir, "app.key_secret") {
		t.Fatalf("WriteFiles wrote %s and %s", pubPath, secPath)
	}
	lines := python(t, `
import sys, zmq.auth
p, s = zmq.auth.load_certificate(sys.argv[1]); print(p.decode(), s)
p, s = zmq.auth.load_certificate(sys.argv[2]); print(p.decode(), s.decode())
print(*sorted(k.decode() for k in zmq.auth.load_certificates(sys.argv[3])))
`, pubPath, secPath, dir)
	want := []string{pair.Public.String() + " None", pair.Public.String() + " " + pair.Secret.String(), pair.Public.String()}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("pyzmq read our files as\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if got, err := LoadSecret(secPath); err != nil || got != pair {
		t.Fatalf("LoadSecret(our file) = %v, %v", got, err)
	}
}

func TestWriteFilesModes(t *testing.T) {
	dir := t.TempDir()
	pair, _ := GenerateKeyPair()
	pubPath, secPath, err := WriteFiles(dir, "m", pair)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(secPath); fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v, want 0600", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(pubPath); fi.Mode().Perm()&0o600 != 0o600 || fi.Mode().Perm()&0o022 != 0 {
		t.Errorf("public file mode %v, want 0644 less the umask", fi.Mode().Perm())
	}
}

func TestWriteFilesRefusesOverwrite(t *testing.T) {
	for _, existing := range []string{"c.key", "c.key_secret"} {
		t.Run(existing, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, existing)
			if err := os.WriteFile(path, []byte("mine\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			pair, _ := GenerateKeyPair()
			_, _, err := WriteFiles(dir, "c", pair)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "already exists") {
				t.Fatalf("WriteFiles over %s: %v; want an error naming it", existing, err)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Fatalf("WriteFiles left %d files, want only the one that was there", len(entries))
			}
			if b, _ := os.ReadFile(path); string(b) != "mine\n" {
				t.Fatalf("%s was changed to %q", existing, b)
			}
		})
	}
}

func TestWriteFilesRefusesBadNames(t *testing.T) {
	dir := t.TempDir()
	pair, _ := GenerateKeyPair()
	for _, c := range []struct{ name, says string }{
		{"", "may not be empty"},
		{"a/b", `"a/b" holds a path separator`},
		{"../up", "path separator"},
		{`a\b`, "path separator"},
		{".hidden", `may not start with "."`},
		{"-rf", `may not start with "-"`},
		{"a\nb", "control character"},
	} {
		if _, _, err := WriteFiles(dir, c.name, pair); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("WriteFiles(name %q) = %v; want %q", c.name, err, c.says)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("bad names wrote %d files", len(entries))
	}
}

// TestReadsZPLAsCzmqWrites: czmq's zconfig_save layout, and what a person
// writes by hand that zconfig accepts: unquoted and single-quoted values,
// comments after values, metadata, blank lines, CRLF.
func TestReadsZPLAsCzmqWrites(t *testing.T) {
	pub, sec := libzmqServerPublic, libzmqServerSecret
	for name, text := range map[string]string{
		"czmq":                  "#   ****  Generated on 2024-01-01 10:00:00 by CZMQ  ****\n#   ZeroMQ CURVE **Secret** Certificate\n#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\nmetadata\n    name = \"collector\"\ncurve\n    public-key = \"" + pub + "\"\n    secret-key = \"" + sec + "\"\n",
		"unquoted and comments": "curve # keys\n    public-key = " + pub + "   # the public one\n    secret-key = '" + sec + "' # single quotes\n",
		"crlf":                  "metadata\r\ncurve\r\n    public-key = \"" + pub + "\"\r\n    secret-key = \"" + sec + "\"\r\n",
		"indented comments":     "metadata\n    # nothing\n    email = ops@example.com\ncurve\n\n    # keys\n    public-key = \"" + pub + "\"\n    secret-key = \"" + sec + "\"",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.key_secret")
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			pair, err := LoadSecret(path)
			if err != nil || pair.Public.String() != pub || pair.Secret.String() != sec {
				t.Fatalf("LoadSecret = %v, %v", pair, err)
			}
		})
	}
}

func TestSecretModeCheck(t *testing.T) {
	text := "curve\n    public-key = \"" + libzmqServerPublic + "\"\n    secret-key = \"" + libzmqServerSecret + "\"\n"
	for _, c := range []struct {
		mode os.FileMode
		says string // "" means loaded
	}{
		{0o600, ""}, {0o400, ""}, {0o700, ""},
		{0o640, "mode 0640 lets its group read or write it"},
		{0o620, "mode 0620 lets its group read or write it"},
		{0o604, "mode 0604 lets others read or write it"},
		{0o666, "mode 0666 lets its group and others read or write it"},
	} {
		path := filepath.Join(t.TempDir(), "s.key_secret")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, c.mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadSecret(path)
		if c.says == "" {
			if err != nil {
				t.Errorf("mode %v: %v", c.mode, err)
			}
			continue
		}
		if !errors.Is(err, ErrSecretExposed) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %v: %v; want ErrSecretExposed saying %q and the chmod fix", c.mode, err, c.says)
		}
	}
}

// TestLoadErrorsNameTheFile: every way a certificate file can be wrong
// gives an error that names the file and says what is wrong, and none
// repeats the secret key.
func TestLoadErrorsNameTheFile(t *testing.T) {
	pub, sec := libzmqServerPublic, libzmqServerSecret
	other, _ := GenerateKeyPair()
	curve := func(lines ...string) string { return "metadata\ncurve\n    " + strings.Join(lines, "\n    ") + "\n" }
	for _, c := range []struct {
		name, text string
		secret     bool // LoadSecret, else LoadPublic
		says       string
	}{
		{"missing", "", false, "no such file"},
		{"directory", "", false, "not a regular file"},
		{"too large", strings.Repeat("# padding\n", MaxFileSize/10+1), false, "larger than a certificate file can be (64 KiB at most)"},
		{"binary", "curve\x00\x01\x02", false, "NUL byte"},
		{"not ZPL", "{\"public-key\": \"x\"}\n", false, "line 1: unexpected text"},
		{"bad indent", "curve\n  public-key = \"" + pub + "\"\n", false, "line 2: indented by 2 spaces"},
		{"too deep", "curve\n        public-key = \"" + pub + "\"\n", false, "line 2: \"public-key\" is indented 2 levels"},
		{"unclosed quote", curve(`secret-key = "` + sec), true, "line 3: the value has no closing \""},
		{"no curve section", "metadata\n    public-key = \"" + pub + "\"\n", false, `no "curve" section`},
		{"no public key", curve(), false, "no public-key"},
		{"bad z85", curve(`public-key = "` + "~" + pub[1:] + `"`), false, "line 3: curve/public-key: not a CURVE key in Z85: character '~'"},
		{"wrong length", curve(`public-key = "` + pub[:30] + `"`), false, "line 3: curve/public-key: a CURVE key is 40 characters of Z85, not 30"},
		{"twice", curve(`public-key = "`+pub+`"`, `public-key = "`+pub+`"`), false, `"curve/public-key" appears twice, at lines 3 and 4`},
		{"public only", curve(`public-key = "` + pub + `"`), true, "no secret-key"},
		{"secret without public", curve(`secret-key = "` + sec + `"`), true, "no public-key"},
		{"bad secret", curve(`public-key = "`+pub+`"`, `secret-key = "`+sec[:39]+`"`), true, "curve/secret-key: a CURVE key is 40 characters of Z85, not 39"},
		{"mismatch", curve(`public-key = "`+other.Public.String()+`"`, `secret-key = "`+sec+`"`), true, "its public-key is not the secret key's public key (which is " + pub + ")"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.key_secret")
			switch c.name {
			case "missing":
			case "directory":
				os.Mkdir(path, 0o700)
			default:
				if err := os.WriteFile(path, []byte(c.text), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			if c.secret {
				_, err = LoadSecret(path)
			} else {
				_, err = LoadPublic(path)
			}
			var fe *FileError
			if !errors.As(err, &fe) || fe.Path != path {
				t.Fatalf("got %v; want a *FileError for %s", err, path)
			}
			if !strings.HasPrefix(err.Error(), "certificate "+path+": ") || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("got %q; want it to name %s and say %q", err, path, c.says)
			}
			if strings.Contains(err.Error(), sec[:30]) {
				t.Fatalf("the error repeats the secret key: %v", err)
			}
		})
	}
}
