package zcert

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/pyzmq"
)

// libzmq's own test keys (tests/testutil_security.cpp): the server's
// secret key and its public key.
const (
	libzmqServerSecret = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
	libzmqServerPublic = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
)

func mustKey(t testing.TB, s string) Key {
	t.Helper()
	k, err := ParseKey(s)
	if err != nil {
		t.Fatalf("ParseKey(%q): %v", s, err)
	}
	return k
}

func TestPublicKeyOfLibzmqTestKey(t *testing.T) {
	if got := PublicKey(mustKey(t, libzmqServerSecret)); got.String() != libzmqServerPublic {
		t.Fatalf("PublicKey(libzmq's server secret) = %s, want %s", got, libzmqServerPublic)
	}
}

func TestParseKeyRoundTrip(t *testing.T) {
	k := mustKey(t, libzmqServerPublic)
	if k.String() != libzmqServerPublic {
		t.Fatalf("ParseKey(%q).String() = %q", libzmqServerPublic, k)
	}
}

func TestParseKeyErrors(t *testing.T) {
	for _, c := range []struct{ name, text, says string }{
		{"empty", "", "40 characters of Z85, not 0"},
		{"short", libzmqServerPublic[:35], "not 35"},
		{"hex", strings.Repeat("ab", 32), "not 64"},
		{"bad character", "~" + libzmqServerPublic[1:], "character '~' at offset 0 is not in the Z85 alphabet"},
		{"overflow", "#####" + libzmqServerPublic[5:], "more than 32 bits hold"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseKey(c.text)
			if err == nil || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("ParseKey(%q) = %v; want an error saying %q", c.text, err, c.says)
			}
			if c.text != "" && strings.Contains(err.Error(), c.text) {
				t.Fatalf("ParseKey's error repeats its input, which may be a secret: %v", err)
			}
		})
	}
}

// TestGeneratedKeysMatchLibzmq: libzmq (zmq.curve_public) computes the same
// public key from our secret key as we do.
func TestGeneratedKeysMatchLibzmq(t *testing.T) {
	pyzmq.Require(t)
	a, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if a == b || a.Public == a.Secret {
		t.Fatalf("two generated pairs, or a pair's two keys, are equal: %v %v", a, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, pyzmq.Python, "-c",
		`import sys, zmq; print(zmq.curve_public(sys.argv[1].encode()).decode())`, a.Secret.String()).Output()
	if err != nil {
		t.Fatalf("pyzmq: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != a.Public.String() {
		t.Fatalf("libzmq's public key for our secret is %s; ours is %s", got, a.Public)
	}
}

func TestKeyPairPrintsNoSecret(t *testing.T) {
	pair := KeyPair{Secret: mustKey(t, libzmqServerSecret), Public: mustKey(t, libzmqServerPublic)}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		got := fmt.Sprintf(format, pair)
		if strings.Contains(got, libzmqServerSecret) || !strings.Contains(got, libzmqServerPublic) {
			t.Errorf("Sprintf(%q, pair) = %q: want the public key and not the secret", format, got)
		}
	}
}

// Keys no one should use are refused where keys come in: an all-zero
// secret (its public key is known to all), a low-order public key (the
// key agreement with it is known to all).
func TestWeakKeysAreRefused(t *testing.T) {
	if err := CheckSecret(Key{}); !errors.Is(err, ErrWeakKey) {
		t.Fatalf("zero secret: %v", err)
	}
	// Low-order points of Curve25519 (RFC 7748 section 6.1; libsodium's
	// blocklist): 0, 1, and a point of order 8.
	lowOrder := []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	}
	for _, h := range lowOrder {
		var k Key
		hex.Decode(k[:], []byte(h))
		if err := CheckPublic(k); !errors.Is(err, ErrWeakKey) {
			t.Errorf("low-order key %s: %v", h, err)
		}
	}
	p, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckPublic(p.Public); err != nil {
		t.Fatalf("a real key refused: %v", err)
	}
	if err := CheckSecret(p.Secret); err != nil {
		t.Fatalf("a real key refused: %v", err)
	}
	// And from files: a certificate holding the zero key.
	dir := t.TempDir()
	zero := Key{}
	path := filepath.Join(dir, "zero.key")
	if err := os.WriteFile(path, []byte("curve\n    public-key = \""+zero.String()+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPublic(path); !errors.Is(err, ErrWeakKey) || !strings.Contains(err.Error(), path) {
		t.Fatalf("zero public key file: %v", err)
	}
}
