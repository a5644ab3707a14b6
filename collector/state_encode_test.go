package collector

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// The state file is written by hand (appendSavedStream): what loadState
// reads back must be what it would read from encoding/json's encoding of
// the same streams, whatever bytes a name holds (names are cleaned on the
// way in, but a state file from an older version is read as it is).
func TestStateStreamReadsBackAsEncodingJSONWouldWriteIt(t *testing.T) {
	names := []string{"", "api", `q"uote`, `back\slash`, "<b>&amp;</b>", "tab\there\nnl\x00\x1f",
		"bad\xffutf8\xc3", "line\u2028para\u2029", "ünïcödé 日本 🚀", "\x7f"}
	seen := time.Date(2026, 11, 28, 4, 5, 6, 789012345, time.UTC)
	for i, name := range names {
		for _, repaired := range []uint64{0, 7} {
			x := savedStream{Instance: uint64(i) << 40, Stream: uint16(i), Host: name, PID: 4294967295, App: name + "-app",
				Next: 1<<64 - 1, Received: 12, Gaps: 3, Repaired: repaired, Dropped: 9, LastSeen: seen.Add(time.Duration(i) * time.Hour)}
			var got, want savedStream
			if err := json.Unmarshal(appendSavedStream(nil, &x), &got); err != nil {
				t.Fatalf("name %q: %v in %s", name, err, appendSavedStream(nil, &x))
			}
			ref, _ := json.Marshal(&x)
			if err := json.Unmarshal(ref, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("name %q: read back\n%+v\nwant\n%+v", name, got, want)
			}
		}
	}
}

// BenchmarkSaveState is what a store flush costs with a thousand
// producers streaming: their positions written out.
func BenchmarkSaveState(b *testing.B) {
	snap := savedState{Version: 1}
	for i := range 1000 {
		snap.Streams = append(snap.Streams, savedStream{Instance: uint64(i) * 7919, Host: "host-17.example.net", PID: 4242, App: "svc-" + string(rune('a'+i%26)),
			Next: 123456, Received: 123456, Gaps: 2, LastSeen: time.Now()})
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := writeState(discard{}, snap); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
