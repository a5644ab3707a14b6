package main

import (
	"fmt"
	"testing"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/testsupport"
)

// The bug as it was reported: a tier forwarding to two upstream
// collectors, 20,000 entries, nothing lost, and each upstream reporting
// thousands of gaps (the batches that went to the other). Now both
// upstreams share the entries and count none.
func TestTierToTwoUpstreamsReportsNoFalseLoss(t *testing.T) {
	ctx := testsupport.Context(t)
	a := startCollector(t, ctx, "--pub", "")
	b := startCollector(t, ctx, "--pub", "")
	tier := startCollector(t, ctx, "--pub", "", "--forward", a.pull+","+b.pull)
	s, err := zmqlog.NewShipper(tier.pull, zmqlog.WithApp("tiered"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const entries = 20000
	for i := range entries {
		s.Ship("INFO", []byte(fmt.Sprintf(`{"level":"info","n":%d}`, i)))
		if i%500 == 499 { // many batches, so both upstreams get a share
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	const received = "zmqlog_collector_entries_received_total"
	testsupport.WaitFor(t, ctx, "every entry at an upstream", func() bool {
		return a.metric(t, received)+b.metric(t, received) == entries
	})
	ra, rb := a.metric(t, received), b.metric(t, received)
	t.Logf("upstream a received %v, b %v", ra, rb)
	if ra == 0 || rb == 0 {
		t.Fatalf("the tier did not share the load (a %v, b %v): the test shows nothing", ra, rb)
	}
	for name, p := range map[string]*collectorProc{"upstream a": a, "upstream b": b, "tier": tier} {
		if g := p.metric(t, "zmqlog_collector_gap_entries_total"); g != 0 {
			t.Errorf("%s reports %v entries lost; nothing was", name, g)
		}
	}
	tier.terminate(t, ctx)
	a.terminate(t, ctx)
	b.terminate(t, ctx)
}
