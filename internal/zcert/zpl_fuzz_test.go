package zcert

import (
	"strings"
	"testing"
)

// FuzzParseZPL: any file content parses or is refused with a line-numbered
// error, without panicking, and a key read from it is 32 bytes of valid
// Z85 that prints back as the text it was read from.
func FuzzParseZPL(f *testing.F) {
	f.Add([]byte("metadata\ncurve\n    public-key = \"" + libzmqServerPublic + "\"\n    secret-key = \"" + libzmqServerSecret + "\"\n"))
	f.Add([]byte("curve # c\n    public-key = '" + libzmqServerPublic + "' # x\n"))
	f.Add([]byte("curve\n  public-key = x\n"))
	f.Add([]byte("a\n    b\n        c = \"unclosed\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		root, err := parseZPL(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") && !strings.Contains(err.Error(), "NUL byte") {
				t.Fatalf("error without a line number: %v", err)
			}
			return
		}
		k, err := curveKey("f", root, "public-key")
		if err == nil && k != nil {
			if back, err := ParseKey(k.String()); err != nil || back != *k {
				t.Fatalf("key %v does not round-trip: %v", *k, err)
			}
		}
	})
}
