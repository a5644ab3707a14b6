package wire

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
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
