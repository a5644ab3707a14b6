package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func buildBatch(p Producer, entries ...[2]string) []byte {
	b := AppendHeader(nil, p)
	for _, e := range entries {
		b = AppendEntry(b, e[0], []byte(e[1]))
	}
	SetCount(b, len(entries))
	return b
}

func TestBatchRoundTrip(t *testing.T) {
	p := Producer{Instance: 0xdeadbeefcafe, PID: 4242, Host: "web-1", App: "checkout"}
	if HeaderLen(p) != len(AppendHeader(nil, p)) {
		t.Fatal("HeaderLen disagrees with AppendHeader")
	}
	big := strings.Repeat("x", 300) // a body needing a 2-byte uvarint
	entries := [][2]string{{"INFO.checkout", `{"msg":"a"}`}, {"ERROR.checkout", big}, {"", "no topic"}}
	batch := buildBatch(p, entries...)
	Stamp(batch, 3, 1000, 7)
	sum := 0
	for _, e := range entries {
		sum += EntrySize(e[0], []byte(e[1]))
	}
	if len(batch) != HeaderLen(p)+sum {
		t.Fatalf("batch is %d bytes, header+entries %d", len(batch), HeaderLen(p)+sum)
	}

	b, err := Decode([][]byte{batch})
	if err != nil {
		t.Fatal(err)
	}
	if b.Producer != p || b.Stream != 3 || b.FirstSeq != 1000 || b.Dropped != 7 || b.Count != 3 || b.Plain || b.Bytes != len(batch) {
		t.Fatalf("decoded %+v", b)
	}
	i := 0
	for topic, data := range b.Entries() {
		if string(topic) != entries[i][0] || string(data) != entries[i][1] {
			t.Fatalf("entry %d = %q %q", i, topic, data)
		}
		i++
	}
	if i != 3 {
		t.Fatalf("%d entries", i)
	}
}

// A tier renumbers a batch for the next one and keeps everything else:
// the producer, its dropped count and the entries.
func TestRenumberKeepsTheProducer(t *testing.T) {
	p := Producer{Instance: 0xdeadbeefcafe, PID: 4242, Host: "web-1", App: "checkout"}
	batch := buildBatch(p, [2]string{"INFO", `{"msg":"a"}`})
	Stamp(batch, 3, 1000, 7)
	if !IsBatch([][]byte{batch}) || IsBatch([][]byte{[]byte("plain")}) || IsBatch([][]byte{batch, batch}) {
		t.Fatal("IsBatch")
	}
	if Instance(batch) != p.Instance {
		t.Fatalf("Instance %x", Instance(batch))
	}
	Renumber(batch, 0x8001, 42)
	b, err := Decode([][]byte{batch})
	if err != nil {
		t.Fatal(err)
	}
	if b.Producer != p || b.Stream != 0x8001 || b.FirstSeq != 42 || b.Dropped != 7 || b.Count != 1 {
		t.Fatalf("decoded %+v", b)
	}
}

func TestDecodeLongNamesAreTruncated(t *testing.T) {
	p := Producer{Host: strings.Repeat("h", 400), App: "a"}
	b, err := Decode([][]byte{buildBatch(p)})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Producer.Host) != MaxName || b.Producer.App != "a" {
		t.Fatalf("got %+v", b.Producer)
	}
}

// Names longer than MaxName are cut between two characters, never inside
// one: a cut inside a character would leave invalid UTF-8 that no label,
// log or JSON consumer can take.
func TestLongNamesAreCutBetweenCharacters(t *testing.T) {
	for _, tc := range []struct {
		name, want string
	}{
		{strings.Repeat("é", 200), strings.Repeat("é", 127)},           // 2 bytes each: 254 fit
		{strings.Repeat("日", 100), strings.Repeat("日", 85)},            // 3 bytes each: 255 fit
		{"x" + strings.Repeat("🙂", 70), "x" + strings.Repeat("🙂", 63)}, // 4 bytes each: 253 fit
	} {
		p := Producer{Host: tc.name, App: tc.name}
		header := AppendHeader(nil, p)
		if HeaderLen(p) != len(header) {
			t.Fatalf("HeaderLen %d, header %d bytes", HeaderLen(p), len(header))
		}
		b, err := Decode([][]byte{header})
		if err != nil {
			t.Fatal(err)
		}
		if b.Producer.Host != tc.want || b.Producer.App != tc.want {
			t.Errorf("%d-byte name decoded as %q (%d bytes), want %d bytes", len(tc.name), b.Producer.Host, len(b.Producer.Host), len(tc.want))
		}
		if p.Clean().Host != tc.want {
			t.Errorf("Clean gives %q", p.Clean().Host)
		}
	}
}

// rawHeader is a batch header with names exactly as given, as a peer that
// does not use AppendHeader can send them.
func rawHeader(host, app string) []byte {
	b := append([]byte(Magic), Version, 0)
	b = append(b, make([]byte, offInstance-offStream)...)
	b = binary.BigEndian.AppendUint64(b, 1)
	b = binary.BigEndian.AppendUint32(b, 2)
	b = append(append(b, byte(len(host))), host...)
	return append(append(b, byte(len(app))), app...)
}

// Whatever names a peer sends, the decoded ones are valid UTF-8 without
// control characters: invalid bytes and control characters become U+FFFD,
// and the batch with its entries is kept.
func TestDecodeRepairsProducerNames(t *testing.T) {
	for _, tc := range []struct {
		sent, want string
	}{
		{"web-1", "web-1"},
		{"caf\xe9", "caf\uFFFD"},                       // Latin-1, not UTF-8
		{"\xff\xfe", "\uFFFD\uFFFD"},                   // one U+FFFD per bad byte
		{"a\xe2\x82", "a\uFFFD\uFFFD"},                 // a character cut short
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"},         // an encoded surrogate
		{"line\nforged", "line\uFFFDforged"},           // C0
		{"\x1b]52;c;aGk=\a", "\uFFFD]52;c;aGk=\uFFFD"}, // OSC 52
		{"del\x7f", "del\uFFFD"},                       // DEL
		{"c1\u0085\u009b", "c1\uFFFD\uFFFD"},           // C1 (NEL, CSI)
		{"ok\uFFFD", "ok\uFFFD"},                       // U+FFFD itself is fine
		{"日本", "日本"},
		// Repair makes the name longer; it is cut again between characters.
		{strings.Repeat("\xff", 255), strings.Repeat("\uFFFD", 85)},
		{strings.Repeat("a", 254) + "\xc3", strings.Repeat("a", 254)},
	} {
		batch := AppendEntry(rawHeader(tc.sent, tc.sent), "INFO", []byte(`{"msg":"kept"}`))
		SetCount(batch, 1)
		b, err := Decode([][]byte{batch})
		if err != nil {
			t.Fatalf("name %q: %v", tc.sent, err)
		}
		if b.Producer.Host != tc.want || b.Producer.App != tc.want {
			t.Errorf("name %q decoded as host %q app %q, want %q", tc.sent, b.Producer.Host, b.Producer.App, tc.want)
		}
		if !utf8.ValidString(b.Producer.Host) || len(b.Producer.Host) > MaxName || b.Count != 1 {
			t.Errorf("name %q: %+v", tc.sent, b)
		}
		if got := (Producer{Host: tc.sent}).Clean().Host; got != tc.want {
			t.Errorf("Clean(%q) = %q, want %q", tc.sent, got, tc.want)
		}
	}
}

func TestDecodePlainMessages(t *testing.T) {
	b, err := Decode([][]byte{[]byte("ERROR"), []byte(`{"msg":"x"}`)})
	if err != nil || !b.Plain || b.Count != 1 {
		t.Fatalf("%+v %v", b, err)
	}
	for topic, data := range b.Entries() {
		if string(topic) != "ERROR" || string(data) != `{"msg":"x"}` {
			t.Fatalf("%q %q", topic, data)
		}
	}
	b, err = Decode([][]byte{[]byte("plain text line")})
	if err != nil || !b.Plain {
		t.Fatalf("%+v %v", b, err)
	}
	for topic, data := range b.Entries() {
		if topic != nil || string(data) != "plain text line" {
			t.Fatalf("%q %q", topic, data)
		}
	}
}

func TestDecodeRejectsBrokenInput(t *testing.T) {
	good := buildBatch(Producer{Host: "h", App: "a"}, [2]string{"INFO", "x"}, [2]string{"WARN", "y"})
	withVersion := bytes.Clone(good)
	withVersion[offVersion] = 2
	overCount := bytes.Clone(good)
	SetCount(overCount, 3)
	hugeCount := bytes.Clone(good)
	SetCount(hugeCount, 1<<31)
	underCount := bytes.Clone(good)
	SetCount(underCount, 1)
	longEntry := append(AppendHeader(nil, Producer{}), 0, 0xff, 0xff, 0xff, 0xff, 0x0f)
	SetCount(longEntry, 1)
	cases := []struct {
		name   string
		frames [][]byte
		want   error
	}{
		{"no frames", nil, ErrEmpty},
		{"empty frame", [][]byte{{}}, ErrEmpty},
		{"empty entry after topic", [][]byte{[]byte("INFO"), {}}, ErrEmpty},
		{"three frames", [][]byte{{1}, {2}, {3}}, ErrFrames},
		{"magic only", [][]byte{[]byte(Magic)}, ErrTruncated},
		{"unknown version", [][]byte{withVersion}, ErrUnknownVersion},
		{"cut header", [][]byte{good[:fixedHeader]}, ErrTruncated},
		{"host past the end", [][]byte{good[:fixedHeader+1]}, ErrTruncated},
		{"count over entries", [][]byte{overCount}, ErrMalformed},
		{"count 2^31", [][]byte{hugeCount}, ErrMalformed},
		{"bytes after the entries", [][]byte{underCount}, ErrMalformed},
		{"entry longer than the batch", [][]byte{longEntry}, ErrMalformed},
		{"cut inside an entry", [][]byte{good[:len(good)-1]}, ErrMalformed},
	}
	for _, tc := range cases {
		_, err := Decode(tc.frames)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

// Decode allocates nothing for entries, whatever the counts say.
func TestDecodeAllocations(t *testing.T) {
	p := Producer{Host: "h", App: "a"}
	var entries [][2]string
	for i := range 500 {
		entries = append(entries, [2]string{"INFO", fmt.Sprint(i)})
	}
	batch := [][]byte{buildBatch(p, entries...)}
	allocs := testing.AllocsPerRun(100, func() {
		b, err := Decode(batch)
		if err != nil {
			t.Fatal(err)
		}
		for range b.Entries() {
		}
	})
	if allocs > 2 { // host and app strings
		t.Fatalf("%v allocations per decode", allocs)
	}
}
