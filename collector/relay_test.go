package collector

import (
	"fmt"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/internal/zsock"
	"github.com/zmqlog/zmqlog/wire"
)

// producerBatch is a batch of n entries as a shipper writes it on its
// stream 0, numbered from first.
func producerBatch(instance, first uint64, n int) [][]byte {
	b := wire.AppendHeader(nil, wire.Producer{Instance: instance, Host: "h", App: "a"})
	for range n {
		b = wire.AppendEntry(b, "INFO", []byte(`{}`))
	}
	wire.SetCount(b, n)
	wire.Stamp(b, 0, first, 0)
	return [][]byte{b}
}

// A tier balancing one producer's batches across two upstreams numbers
// each upstream's share contiguously, so neither counts the other's as
// gaps; a batch stamped and then lost on the way still shows as a gap at
// its upstream, and a batch whose write failed (numbers given back) and
// that went to the other upstream shows as none.
func TestRelayNumbersGapsMeanOnlyLoss(t *testing.T) {
	r := newRelayNumbers()
	up := [2]*streams{newStreams(), newStreams()}
	deliver := func(endpoint int, m [][]byte) {
		b, err := wire.Decode(m)
		if err != nil {
			t.Fatal(err)
		}
		if b.Stream&relayStreamBit == 0 {
			t.Fatalf("relayed on stream %#x, not a relay's", b.Stream)
		}
		up[endpoint].observe(&b, time.Now())
	}
	seq := map[uint64]uint64{}
	next := func(instance uint64) [][]byte {
		m := producerBatch(instance, seq[instance], 10)
		seq[instance] += 10
		return m
	}
	for i := range 100 {
		instance := uint64(1 + i%3)
		endpoint := (i / 3 * 7) % 2 // an irregular share
		m := next(instance)
		r.message(m, 10, nil).Route(endpoint)
		deliver(endpoint, m)
	}
	// A failed write: numbered for upstream 0, given back, sent to 1.
	m := next(1)
	r.message(m, 10, nil).Route(0)
	r.message(m, 10, nil).Unroute(0)
	r.message(m, 10, nil).Route(1)
	deliver(1, m)
	for e, s := range up {
		if s.gaps != 0 {
			t.Fatalf("upstream %d counted %d gaps, nothing was lost", e, s.gaps)
		}
	}
	received := up[0].producers()
	if len(received) != 3 {
		t.Fatalf("upstream 0 knows %d producers, want 3", len(received))
	}

	// Real loss: written to upstream 0's connection, never read there.
	lost := next(2)
	r.message(lost, 10, nil).Route(0)
	m = next(2)
	r.message(m, 10, nil).Route(0)
	deliver(0, m)
	if up[0].gaps != 10 || up[1].gaps != 0 {
		t.Fatalf("gaps %d and %d, want the 10 lost at upstream 0", up[0].gaps, up[1].gaps)
	}

	// Plain messages carry no numbers: left as they are.
	plain := [][]byte{[]byte("INFO"), []byte(`{}`)}
	r.message(plain, 10, nil).Route(0)
	if string(plain[0]) != "INFO" || string(plain[1]) != `{}` {
		t.Fatalf("plain message changed: %q", plain)
	}
}

// The stream numbers a tier gives are in the relays' half, one per
// endpoint, and a restarted tier (a new relayNumbers) most likely uses
// others, so its upstream does not take its fresh numbers for old ones.
func TestRelayStreamsAreRelays(t *testing.T) {
	r := newRelayNumbers()
	r.base = 0x7fff // the last of the half: endpoint 1 wraps within it
	if s0, s1 := r.stream(0), r.stream(1); s0 != 0xffff || s1 != 0x8000 {
		t.Fatalf("streams %#x %#x", s0, s1)
	}
}

// Bug: a tier forwarding to two upstream collectors kept the producer's
// numbers, and each upstream counted the batches that went to the other as
// gaps (20,000 entries, nothing lost, some 10,000 gaps at each).
func TestForwardToTwoUpstreamsCountsNoFalseGaps(t *testing.T) {
	ctx := testsupport.Context(t)
	a := startCollector(t, Config{NoPub: true, NoFile: true})
	b := startCollector(t, Config{NoPub: true, NoFile: true})
	tier := startCollector(t, Config{NoPub: true, NoFile: true, Forward: a.PullEndpoint() + "," + b.PullEndpoint()})
	testsupport.WaitFor(t, ctx, "the tier connected to both", func() bool { return a.Stats().Connections == 1 && b.Stats().Connections == 1 })
	s := ship(t, tier.PullEndpoint(), zmqlog.WithApp("tiered"))
	const entries = 20000
	for i := range entries {
		s.Ship("INFO", []byte(fmt.Sprintf(`{"i":%d}`, i)))
		if i%500 == 499 { // many batches, so both upstreams get some
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	testsupport.WaitFor(t, ctx, "every entry upstream", func() bool { return a.Stats().Received+b.Stats().Received == entries })
	sa, sb := a.Stats(), b.Stats()
	t.Logf("upstream a received %d, b %d", sa.Received, sb.Received)
	if sa.Received == 0 || sb.Received == 0 {
		t.Fatalf("the tier sent everything to one upstream (a %d, b %d): the test shows nothing", sa.Received, sb.Received)
	}
	if sa.Gaps != 0 || sb.Gaps != 0 || tier.Stats().Gaps != 0 {
		t.Fatalf("nothing was lost, yet gaps: upstream a %d, b %d, tier %d", sa.Gaps, sb.Gaps, tier.Stats().Gaps)
	}
	for _, st := range []Stats{sa, sb} {
		if len(st.Producers) != 1 || st.Producers[0].App != "tiered" {
			t.Fatalf("upstream producers %+v, want the producer itself", st.Producers)
		}
	}
}

// Each collector's gaps count the loss on the hop into it: entries lost
// between a producer and the tier are counted at the tier, and not again
// (nor hidden, nor shown as false loss) at its upstreams, which count
// only what is lost between the tier and them. Loss across the tiers is
// the sum of their gaps less their repairs.
func TestTierCountsTheProducersLossUpstreamsTheirOwn(t *testing.T) {
	ctx := testsupport.Context(t)
	a := startCollector(t, Config{NoPub: true, NoFile: true})
	b := startCollector(t, Config{NoPub: true, NoFile: true})
	tier := startCollector(t, Config{NoPub: true, NoFile: true, Forward: a.PullEndpoint() + "," + b.PullEndpoint()})
	testsupport.WaitFor(t, ctx, "the tier connected to both", func() bool { return a.Stats().Connections == 1 && b.Stats().Connections == 1 })
	p := dialPush(t, tier.PullEndpoint())
	// A producer whose batch [10,20) was lost on its way to the tier.
	sent := 0
	for first := uint64(0); first < 400; first += 10 {
		if first == 10 {
			continue
		}
		if err := p.Send(ctx, zsock.Plain(producerBatch(9, first, 10))); err != nil {
			t.Fatal(err)
		}
		sent += 10
	}
	testsupport.WaitFor(t, ctx, "every entry upstream", func() bool { return a.Stats().Received+b.Stats().Received == uint64(sent) })
	if g := tier.Stats().Gaps; g != 10 {
		t.Fatalf("tier counted %d gaps, want the 10 lost before it", g)
	}
	if ga, gb := a.Stats().Gaps, b.Stats().Gaps; ga != 0 || gb != 0 {
		t.Fatalf("upstreams counted gaps %d and %d for loss the tier already counted", ga, gb)
	}
}
