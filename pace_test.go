package zmqlog

import (
	"fmt"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/testcollector"
	"github.com/zmqlog/zmqlog/internal/testsupport"
)

// A program logging steadily at a low rate sends a message per pace, not
// one per entry or two: the collector's cost follows messages. Every
// entry still arrives, in order.
func TestSteadyLowRateSendsAMessagePerPace(t *testing.T) {
	ctx := testsupport.Context(t)
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	const pace = 50 * time.Millisecond
	s, err := NewShipper(col.Endpoint(), WithPace(pace))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 60
	start := time.Now()
	for i := range n {
		s.Ship("INFO.t", fmt.Appendf(nil, `{"n":%d}`, i))
		time.Sleep(5 * time.Millisecond) // the load: 200 entries/s
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	for i, e := range col.ReceiveN(ctx, n) {
		if want := fmt.Sprintf(`{"n":%d}`, i); e.Data != want {
			t.Fatalf("entry %d is %s, want %s", i, e.Data, want)
		}
	}
	// One message after the first entry's linger, then at most one per
	// pace, and the Flush's.
	if msgs, most := col.Pull.Stats().Messages, uint64(elapsed/pace)+2; msgs > most {
		t.Fatalf("%d entries over %v took %d messages, want at most %d (one per %v)", n, elapsed, msgs, most, pace)
	}
}

// The pace never holds the first entry after a quiet spell (it leaves
// after the linger alone), and a Flush never waits for it.
func TestPaceHoldsNeitherTheFirstEntryNorAFlush(t *testing.T) {
	ctx := testsupport.Context(t)
	col := testcollector.Start(t, "tcp://127.0.0.1:0")
	s, err := NewShipper(col.Endpoint(), WithPace(time.Hour), WithLinger(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Ship("ERROR.t", []byte(`{"n":1}`))
	if got := col.ReceiveN(ctx, 1); got[0].Data != `{"n":1}` { // an hour's pace would time the test out here
		t.Fatalf("got %+v", got)
	}
	s.Ship("ERROR.t", []byte(`{"n":2}`)) // within the pace: it would wait an hour
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := col.ReceiveN(ctx, 1); got[0].Data != `{"n":2}` {
		t.Fatalf("got %+v", got)
	}
}

func TestWithPaceRefusesNegative(t *testing.T) {
	if _, err := NewShipper("tcp://127.0.0.1:1", WithPace(-time.Second)); err == nil {
		t.Fatal("a negative pace was accepted")
	}
}
