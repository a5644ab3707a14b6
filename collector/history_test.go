package collector

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/topic"
)

func pairs(kv ...string) [][]byte {
	out := make([][]byte, len(kv))
	for i, s := range kv {
		out[i] = []byte(s)
	}
	return out
}

func readAll(h *History, from uint64, f *HistoryFilter) (lines []string, next, missed uint64) {
	var r HistoryRead
	for {
		h.Read(from, f, 3, 1<<20, &r) // small chunks: the position must carry across reads
		missed += r.Missed
		for _, e := range r.Entries {
			lines = append(lines, string(e.Line))
		}
		if r.Next == from && len(r.Entries) == 0 && r.Missed == 0 {
			return lines, r.Next, missed
		}
		from = r.Next
	}
}

func TestHistoryKeepsNewestWithinItsBytes(t *testing.T) {
	h := NewHistory(64 << 10)
	size := len(h.data)
	entry := strings.Repeat("x", 100)
	total := 3 * size / 100 // three times what fits
	for i := range total {
		h.Append(pairs("INFO.app", fmt.Sprintf("%06d%s", i, entry[6:])), time.Unix(1000, 0))
	}
	st := h.Stats()
	if st.Bytes > int64(size) || st.Entries == 0 {
		t.Fatalf("holds %d bytes in %d entries; arena %d", st.Bytes, st.Entries, size)
	}
	if st.Entries+st.Evicted != uint64(total) {
		t.Errorf("held %d + evicted %d, want %d appended", st.Entries, st.Evicted, total)
	}
	lines, next, missed := readAll(h, 1, &HistoryFilter{})
	if missed != st.Evicted {
		t.Errorf("a reader from the start missed %d, want the %d evicted", missed, st.Evicted)
	}
	if next != uint64(total)+1 {
		t.Errorf("next %d, want %d", next, total+1)
	}
	for i, l := range lines { // the newest, in order, none twice
		if want := fmt.Sprintf("%06d", total-len(lines)+i); l[:6] != want {
			t.Fatalf("line %d starts %q, want %q", i, l[:6], want)
		}
	}
}

func TestHistoryBoundsRecordsOfTinyEntries(t *testing.T) {
	h := NewHistory(16 << 10)
	for range 10 * len(h.recs) {
		h.Append(pairs("E", "{}"), time.Unix(1000, 0))
	}
	if st := h.Stats(); st.Entries > uint64(len(h.recs)) || st.Capacity > 16<<10 {
		t.Fatalf("holds %d entries, records %d, capacity %d", st.Entries, len(h.recs), st.Capacity)
	}
}

func TestHistoryRefusesAnEntryOverAnEighth(t *testing.T) {
	h := NewHistory(64 << 10)
	h.Append(pairs("INFO", strings.Repeat("x", len(h.data)/8+1), "INFO", "{}"), time.Unix(1000, 0))
	st := h.Stats()
	if st.TooLarge != 1 || st.Entries != 1 {
		t.Fatalf("too large %d, held %d; want 1 and 1", st.TooLarge, st.Entries)
	}
}

func TestHistoryFilterAndStart(t *testing.T) {
	h := NewHistory(1 << 20)
	base := time.Unix(1000, 0)
	for i, tp := range []string{"DEBUG.a", "INFO.a", "WARNING.b", "ERROR+4.a", "INFO.b", "ERROR.b", "UNKNOWN"} {
		h.Append(pairs(tp, fmt.Sprint(i)), base.Add(time.Duration(i)*time.Second))
	}
	for _, tc := range []struct {
		name string
		f    HistoryFilter
		last int
		want string
	}{
		{"all", HistoryFilter{}, 0, "0123456"},
		{"warn and above", HistoryFilter{MinSeverity: topic.Warn}, 0, "235"},
		{"app a", HistoryFilter{Apps: []string{"a"}}, 0, "013"},
		{"since", HistoryFilter{Since: base.Add(4 * time.Second)}, 0, "456"},
		{"last 2 errors", HistoryFilter{MinSeverity: topic.Error}, 2, "35"},
		{"last 1 error", HistoryFilter{MinSeverity: topic.Error}, 1, "5"},
		{"last 1 of b since 3s", HistoryFilter{Apps: []string{"b"}, Since: base.Add(3 * time.Second)}, 1, "5"},
		{"last 10", HistoryFilter{}, 10, "0123456"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines, _, _ := readAll(h, h.Start(&tc.f, tc.last), &tc.f)
			if got := strings.Join(lines, ""); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHistoryChangedWakesEveryWaiter(t *testing.T) {
	h := NewHistory(1 << 20)
	a, b := h.Changed(), h.Changed()
	h.Append(pairs("INFO", "{}"), time.Now())
	<-a
	<-b
	if h.Next() != 2 {
		t.Fatalf("next %d", h.Next())
	}
}

func TestRatesCountBySecondAndLevel(t *testing.T) {
	h := NewHistory(1 << 20)
	h.Append(pairs("ERROR", "{}", "INFO", "{}", "ERROR.x", "{}"), time.Unix(1000, 500))
	h.Append(pairs("WARN", "{}"), time.Unix(1002, 0))
	r := h.Rates(time.Unix(1002, 0), 3)
	if r[0].Unix != 1000 || r[0].Counts[topic.Error] != 2 || r[0].Counts[topic.Info] != 1 || r[1].Counts != ([8]uint32{}) || r[2].Counts[topic.Warn] != 1 {
		t.Fatalf("rates %+v", r)
	}
	if r := h.Rates(time.Unix(1000+rateSeconds, 0), 1); r[0].Counts != ([8]uint32{}) {
		t.Fatalf("a second %ds later still shows the old counts: %+v", rateSeconds, r)
	}
}

// BenchmarkHistoryAppend is what keeping the history costs ingest per
// entry: a copy into the ring, its severity and its count per second.
func BenchmarkHistoryAppend(b *testing.B) {
	h := NewHistory(DefaultHistoryBytes)
	entry := []byte(`{"level":"info","ts":1764259200.123456,"caller":"api/handler.go:42","msg":"request served","method":"GET","path":"/v1/orders","status":200}`)
	frames := make([][]byte, 0, 200)
	for range 100 {
		frames = append(frames, []byte("INFO.api"), entry)
	}
	now := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i += 100 {
		h.Append(frames, now)
	}
}
