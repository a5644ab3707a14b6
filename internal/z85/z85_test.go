package z85

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/pyzmq"
)

// RFC 32's example: these eight bytes are "HelloWorld".
var helloWorld = []byte{0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B}

func TestRFC32HelloWorld(t *testing.T) {
	got, err := Encode(helloWorld)
	if err != nil || got != "HelloWorld" {
		t.Fatalf("Encode(RFC 32 example) = %q, %v; want HelloWorld", got, err)
	}
	back, err := Decode("HelloWorld")
	if err != nil || !bytes.Equal(back, helloWorld) {
		t.Fatalf("Decode(HelloWorld) = % x, %v; want % x", back, err, helloWorld)
	}
}

func TestEdges(t *testing.T) {
	for _, c := range []struct {
		raw  []byte
		text string
	}{
		{nil, ""},
		{[]byte{0, 0, 0, 0}, "00000"},
		{[]byte{0xFF, 0xFF, 0xFF, 0xFF}, "%nSc0"}, // the largest value a group may hold
	} {
		got, err := Encode(c.raw)
		if err != nil || got != c.text {
			t.Errorf("Encode(% x) = %q, %v; want %q", c.raw, got, err, c.text)
		}
		back, err := Decode(c.text)
		if err != nil || !bytes.Equal(back, c.raw) {
			t.Errorf("Decode(%q) = % x, %v; want % x", c.text, back, err, c.raw)
		}
	}
}

func TestEncodeRefusesLengthNotMultipleOf4(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 31, 33} {
		if got, err := Encode(make([]byte, n)); err == nil || !strings.Contains(err.Error(), "multiple of 4") {
			t.Errorf("Encode(%d bytes) = %q, %v; want an error about the length", n, got, err)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, c := range []struct {
		name, text string
		offset     int
		says       string
	}{
		{"short", "Hell", 4, "4 characters: the length must be a multiple of 5"},
		{"long", "HelloWorld!", 11, "multiple of 5"},
		{"space", "Hello World", 11, "multiple of 5"},
		{"outside alphabet", "Hel\"oWorld", 3, `character '"' at offset 3 is not in the Z85 alphabet`},
		{"second group", "HelloWor~d", 8, "'~' at offset 8"},
		{"control character", "Hello\x00orld", 5, `'\x00' at offset 5`},
		{"utf-8", "Hello\xc3\xa9rld", 5, `'\xc3' at offset 5`},
		{"overflow", "%nSc1", 0, `group "%nSc1" at offset 0 is worth 4294967296, more than 32 bits hold`},
		{"overflow at most", "Hello#####", 5, `group "#####" at offset 5`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decode(c.text)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode(%q) = % x, %v; want a *DecodeError", c.text, got, err)
			}
			if de.Offset != c.offset || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("Decode(%q): %v at offset %d; want %q at offset %d", c.text, err, de.Offset, c.says, c.offset)
			}
			if got != nil {
				t.Fatalf("Decode(%q) returned bytes with its error", c.text)
			}
		})
	}
}

// TestMatchesPyzmq checks both directions against pyzmq's zmq.utils.z85
// on random inputs, including the values at the ends of a group's range.
func TestMatchesPyzmq(t *testing.T) {
	pyzmq.Require(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var inputs [][]byte
	for n := 0; n <= 64; n += 4 {
		for range 8 {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			inputs = append(inputs, b)
		}
	}
	inputs = append(inputs, bytes.Repeat([]byte{0xFF}, 32), make([]byte, 32))

	// One Python process: each line in is hex; each line out is pyzmq's
	// encoding of it, then its decoding of our encoding, in hex.
	var in strings.Builder
	ours := make([]string, len(inputs))
	for i, b := range inputs {
		enc, err := Encode(b)
		if err != nil {
			t.Fatal(err)
		}
		ours[i] = enc
		in.WriteString(hex.EncodeToString(b) + " " + enc + "\n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pyzmq.Python, "-c", `
import sys
from zmq.utils import z85
for line in sys.stdin:
    raw, _, ours = line.rstrip("\n").partition(" ")
    print(z85.encode(bytes.fromhex(raw)).decode() + " " + z85.decode(ours).hex())
`)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pyzmq: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(inputs) {
		t.Fatalf("pyzmq answered %d lines for %d inputs", len(lines), len(inputs))
	}
	for i, line := range lines {
		theirEnc, theirDec, _ := strings.Cut(line, " ")
		if theirEnc != ours[i] {
			t.Errorf("% x: we encode %q, pyzmq %q", inputs[i], ours[i], theirEnc)
		}
		if theirDec != hex.EncodeToString(inputs[i]) {
			t.Errorf("pyzmq decodes our %q to %s, want % x", ours[i], theirDec, inputs[i])
		}
		back, err := Decode(theirEnc)
		if err != nil || !bytes.Equal(back, inputs[i]) {
			t.Errorf("we decode pyzmq's %q to % x, %v; want % x", theirEnc, back, err, inputs[i])
		}
	}
}

// FuzzRoundTrip: whatever Decode accepts, Encode gives back unchanged,
// and whatever Encode accepts, Decode gives back unchanged.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("HelloWorld"))
	f.Add(helloWorld)
	f.Add([]byte("%nSc0"))
	f.Add([]byte("%nSc1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if dec, err := Decode(string(data)); err == nil {
			enc, err := Encode(dec)
			if err != nil || enc != string(data) {
				t.Fatalf("Decode(%q) = % x, which encodes to %q, %v", data, dec, enc, err)
			}
		}
		if enc, err := Encode(data); err == nil {
			if len(enc) != EncodedLen(len(data)) {
				t.Fatalf("Encode(% x) is %d characters, EncodedLen says %d", data, len(enc), EncodedLen(len(data)))
			}
			dec, err := Decode(enc)
			if err != nil || !bytes.Equal(dec, data) {
				t.Fatalf("Encode(% x) = %q, which decodes to % x, %v", data, enc, dec, err)
			}
		} else if len(data)%4 == 0 {
			t.Fatalf("Encode(% x): %v", data, err)
		}
	})
}
