package collector

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/internal/zsock"
	"github.com/zmqlog/zmqlog/wire"
)

func TestMissingRanges(t *testing.T) {
	type fill struct {
		from, to, want uint64
	}
	for _, tc := range []struct {
		name  string
		holes []seqRange // added in order
		fills []fill
		left  []seqRange
	}{
		{"a late batch fills its hole", []seqRange{{10, 20}}, []fill{{10, 20, 10}}, nil},
		{"a duplicate fills nothing", []seqRange{{10, 20}}, []fill{{0, 10, 0}, {10, 20, 10}, {10, 20, 0}}, nil},
		{"the start of a hole", []seqRange{{10, 20}}, []fill{{10, 15, 5}}, []seqRange{{15, 20}}},
		{"the end of a hole", []seqRange{{10, 20}}, []fill{{15, 20, 5}}, []seqRange{{10, 15}}},
		{"the middle splits a hole", []seqRange{{10, 20}}, []fill{{12, 14, 2}}, []seqRange{{10, 12}, {14, 20}}},
		{"one batch over two holes", []seqRange{{10, 20}, {30, 40}}, []fill{{15, 35, 10}}, []seqRange{{10, 15}, {35, 40}}},
		{"only the missing part counts", []seqRange{{10, 20}}, []fill{{5, 25, 10}}, nil},
		{"an empty hole is not kept", []seqRange{{10, 10}}, nil, nil},
		{"beyond the bound the oldest is forgotten",
			[]seqRange{{0, 1}, {2, 3}, {4, 5}, {6, 7}, {8, 9}},
			[]fill{{0, 1, 0}, {8, 9, 1}},
			[]seqRange{{2, 3}, {4, 5}, {6, 7}}},
		{"a split past the bound forgets the oldest",
			[]seqRange{{0, 1}, {2, 3}, {4, 5}, {6, 10}},
			[]fill{{7, 8, 1}, {0, 1, 0}},
			[]seqRange{{2, 3}, {4, 5}, {6, 7}, {8, 10}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m missingRanges
			for _, h := range tc.holes {
				m.add(h.from, h.to)
			}
			for _, f := range tc.fills {
				if got := m.fill(f.from, f.to); got != f.want {
					t.Errorf("fill [%d,%d) = %d, want %d", f.from, f.to, got, f.want)
				}
			}
			if !slices.Equal(m.r, tc.left) {
				t.Errorf("holes left %v, want %v", m.r, tc.left)
			}
			if len(m.r) > maxMissingRanges {
				t.Errorf("%d holes kept, bound %d", len(m.r), maxMissingRanges)
			}
		})
	}
}

// After a write timeout to a slow collector, the shipper's new connection
// can deliver its batch before the old connection's last one: the gap is
// counted when the later batch arrives, and the late batch takes it back.
func TestLateBatchTakesBackItsGap(t *testing.T) {
	s := newStreams()
	batch := func(first uint64, n int) *wire.Batch {
		return &wire.Batch{Producer: wire.Producer{Instance: 7, Host: "h", App: "a"}, FirstSeq: first, Count: n}
	}
	now := time.Now()
	s.observe(batch(0, 10), now)
	if gap, _ := s.observe(batch(20, 10), now); gap != 10 { // [10,20) overtaken
		t.Fatalf("gap %d, want 10", gap)
	}
	if _, rep := s.observe(batch(10, 10), now); rep != 10 { // it arrives after all
		t.Fatalf("repaired %d, want 10", rep)
	}
	if _, rep := s.observe(batch(10, 10), now); rep != 0 { // a duplicate repairs nothing
		t.Fatalf("a duplicate repaired %d", rep)
	}
	p := s.producers()[0]
	if p.Gaps != 10 || p.GapsRepaired != 10 || p.Received != 40 {
		t.Fatalf("producer %+v: want 10 gaps, 10 repaired, 40 received", p)
	}
	if s.gaps-s.repaired != 0 {
		t.Fatalf("loss %d-%d, want none", s.gaps, s.repaired)
	}
	// Real loss stays counted: [30,35) never comes.
	s.observe(batch(35, 5), now)
	if lost := s.gaps - s.repaired; lost != 5 {
		t.Fatalf("loss %d, want 5", lost)
	}
}

// The repair reaches Stats and the metrics: a batch overtaken by the next
// one is counted as a gap, then as repaired, so gaps − repaired is 0.
func TestRepairedGapsAreReported(t *testing.T) {
	ctx := testsupport.Context(t)
	c := startCollector(t, Config{NoPub: true, NoFile: true})
	p := dialPush(t, c.PullEndpoint())
	for _, first := range []uint64{0, 20, 10} {
		if err := p.Send(ctx, zsock.Plain(producerBatch(5, first, 10))); err != nil {
			t.Fatal(err)
		}
	}
	testsupport.WaitFor(t, ctx, "all three batches", func() bool { return c.Stats().Received == 30 })
	st := c.Stats()
	if st.Gaps != 10 || st.GapsRepaired != 10 || st.Producers[0].Gaps != 10 || st.Producers[0].GapsRepaired != 10 {
		t.Fatalf("gaps %d repaired %d, producer %+v: want 10 and 10", st.Gaps, st.GapsRepaired, st.Producers[0])
	}
	_, body := scrape(t, c.Collector)
	for _, want := range []string{
		"zmqlog_collector_gap_entries_total 10",
		"zmqlog_collector_gap_repaired_entries_total 10",
		`zmqlog_collector_producer_gap_repaired_entries_total{instance="0000000000000005",producer="h/0/a"} 10`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %s in\n%s", want, body)
		}
	}
}

// The repaired counts survive a restart with the gaps they take back, so
// gaps − repaired stays the loss across restarts.
func TestRepairedSurvivesTheStateFile(t *testing.T) {
	s := newStreams()
	now := time.Now()
	for _, first := range []uint64{0, 20, 10} {
		b := wire.Batch{Producer: wire.Producer{Instance: 5, Host: "h", App: "a"}, FirstSeq: first, Count: 10}
		s.observe(&b, now)
	}
	path := t.TempDir() + "/state"
	if err := saveState(path, 0o600, s.snapshot()); err != nil {
		t.Fatal(err)
	}
	st, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	back := newStreams()
	back.restore(st)
	if p := back.producers()[0]; back.gaps != 10 || back.repaired != 10 || p.Gaps != 10 || p.GapsRepaired != 10 {
		t.Fatalf("restored gaps %d repaired %d, producer %+v", back.gaps, back.repaired, p)
	}
}
