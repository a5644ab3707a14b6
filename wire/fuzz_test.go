package wire

import (
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzDecode: whatever bytes a peer sends, Decode returns an error or a
// batch whose entries all lie inside the message, and whose producer
// names are valid UTF-8 without control characters, at most MaxName
// bytes; it never panics. Seeds live in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add(buildBatch(Producer{Instance: 1, PID: 2, Host: "h", App: "a"}, [2]string{"INFO", `{"msg":"x"}`}), []byte(nil), false)
	f.Add([]byte("ERROR"), []byte(`{"msg":"boom"}`), true)
	dirty := AppendEntry(rawHeader("caf\xe9\x1b[2J", "\xff"+string(make([]byte, 254))), "INFO", []byte("x"))
	SetCount(dirty, 1)
	f.Add(dirty, []byte(nil), false)
	f.Fuzz(func(t *testing.T, first, second []byte, two bool) {
		frames := [][]byte{first}
		if two {
			frames = append(frames, second)
		}
		b, err := Decode(frames)
		if err != nil {
			return
		}
		n, size := 0, 0
		for topic, data := range b.Entries() {
			n++
			size += len(topic) + len(data)
		}
		if n != b.Count {
			t.Fatalf("Count %d, iterated %d", b.Count, n)
		}
		if size > len(first)+len(second) {
			t.Fatalf("entries hold %d bytes, message only %d", size, len(first)+len(second))
		}
		if b.Plain {
			return
		}
		for _, name := range []string{b.Producer.Host, b.Producer.App} {
			if !utf8.ValidString(name) || len(name) > MaxName {
				t.Fatalf("decoded name %q (%d bytes)", name, len(name))
			}
			for _, r := range name {
				if unicode.IsControl(r) {
					t.Fatalf("decoded name %q holds control character %U", name, r)
				}
			}
		}
		if b.Producer.Clean() != b.Producer {
			t.Fatalf("decoded producer %+v is not clean", b.Producer)
		}
		// A batch re-encoded from what was decoded decodes the same.
		again := AppendHeader(nil, b.Producer)
		for topic, data := range b.Entries() {
			again = AppendEntry(again, string(topic), data)
		}
		SetCount(again, b.Count)
		Stamp(again, b.Stream, b.FirstSeq, b.Dropped)
		b2, err := Decode([][]byte{again})
		if err != nil || b2.Producer != b.Producer || b2.Count != b.Count || b2.FirstSeq != b.FirstSeq {
			t.Fatalf("re-encoded batch: %+v, %v; was %+v", b2, err, b)
		}
	})
}
