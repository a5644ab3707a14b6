package collector

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

var jsonSeeds = []string{
	`{}`, ` { } `, `{"a":1}`, `{"a":-0.5e+10,"b":[true,false,null,{"c":"\u00e9\n\"x\\"}],"d":{}}`,
	`{"level":"info","ts":1764259200.123456,"caller":"api/handler.go:42","msg":"request served","status":200}`,
	`[]`, `"s"`, `1`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":-}`, `{"a":tru}`, `{"a":"\x01"}`,
	`{"a":"\q"}`, `{"a":"\u12G4"}`, `{"a" 1}`, `{"a":1,}`, `{,}`, `{"a":[1,]}`, `{"a":1}}`, `{"a":1} x`,
	`{"a":"unterminated}`, `{"a":[1 2]}`, `{1:2}`, "{\"a\":\"tab\there\"}", `{"a":"\/"}`, `{"a":-1.5E-3}`,
	strings.Repeat("[", 20) + strings.Repeat("]", 20), `{"a":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
}

// validObject answers as encoding/json.Valid does, for every input.
func FuzzValidObjectMatchesEncodingJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := json.Valid(b) && bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("{"))
		if got := validObject(b); got != want {
			t.Fatalf("validObject(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

func TestValidObjectSeeds(t *testing.T) {
	for _, s := range jsonSeeds {
		b := []byte(s)
		want := json.Valid(b) && bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("{"))
		if got := validObject(b); got != want {
			t.Errorf("validObject(%.60q) = %v, encoding/json says %v", s, got, want)
		}
	}
}

func BenchmarkValidObject(b *testing.B) {
	line := []byte(`{"level":"info","ts":1764259200.123456,"caller":"api/handler.go:42","msg":"request served","method":"GET","path":"/v1/orders","status":200}`)
	b.Run("encoding-json-Valid", func(b *testing.B) {
		for range b.N {
			json.Valid(line)
		}
	})
	b.Run("validObject", func(b *testing.B) {
		for range b.N {
			validObject(line)
		}
	})
}
