package zsock

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// cost is what the model's distinct topics charge against
// Options.MaxPublisherSubscriptionBytes.
func (m subModel) cost() int64 {
	var n int64
	for t := range m {
		n += subscriptionCost(t)
	}
	return n
}

// matched returns the subscribers idx.match visits for topic, failing
// the test if it visits one twice.
func matched(tb testing.TB, idx *subscriberTrie, topic []byte) map[*subscriber]bool {
	tb.Helper()
	got := map[*subscriber]bool{}
	idx.match(topic, func(s *subscriber) {
		if got[s] {
			tb.Fatalf("match(%q) visits a subscriber twice", topic)
		}
		got[s] = true
	})
	return got
}

// checkIndexAgainstModels fails the test unless idx, probed with each of
// probes, visits exactly the subscribers whose model matches, once each,
// and charges exactly their distinct topics.
func checkIndexAgainstModels(tb testing.TB, idx *subscriberTrie, models map[*subscriber]subModel, probes ...[]byte) {
	tb.Helper()
	var cost int64
	for _, m := range models {
		cost += m.cost()
	}
	if idx.size() != cost {
		tb.Fatalf("index charges %d bytes, models %d", idx.size(), cost)
	}
	for _, p := range probes {
		got := matched(tb, idx, p)
		for s, m := range models {
			if got[s] != m.match(p) {
				tb.Fatalf("match(%q): index visits a subscriber: %v, its model matches: %v (topics %q)", p, got[s], m.match(p), m.topics())
			}
		}
		if len(got) > len(models) {
			tb.Fatalf("match(%q) visits %d subscribers, there are %d", p, len(got), len(models))
		}
	}
	checkInvariant(tb, &idx.nodes.root, true)
}

func TestSubscriberTrieVisitsEachMatchingSubscriberOnce(t *testing.T) {
	idx := subscriberTrie{limit: 1 << 20}
	e, all, info, none := &subscriber{}, &subscriber{}, &subscriber{}, &subscriber{}
	for s, topics := range map[*subscriber][]string{
		e:    {"E", "ERROR", "ERROR.api"}, // three prefixes of one topic: one copy
		all:  {"", "INFO"},
		info: {"INFO"},
		none: {"\xff"},
	} {
		for _, topic := range topics {
			if err := idx.add(s, topic); err != nil {
				t.Fatal(err)
			}
		}
	}
	for topic, want := range map[string][]*subscriber{
		"ERROR.api.orders": {e, all},
		"EX":               {e, all},
		"INFO.api":         {all, info},
		"":                 {all},
		"\xff":             {all, none},
	} {
		got := matched(t, &idx, []byte(topic))
		if len(got) != len(want) {
			t.Errorf("%q matches %d subscribers, want %d", topic, len(got), len(want))
		}
		for _, s := range want {
			if !got[s] {
				t.Errorf("%q does not match a subscriber it should", topic)
			}
		}
	}
}

// Random subscribers subscribing and cancelling over a small alphabet (so
// their topics share nodes, and splits and merges happen all the time)
// agree with the obvious model at every step: every subscriber whose
// counted map matches, once; and leaving gives every node and byte back.
func TestSubscriberTrieMatchesModels(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	word := func() string {
		b := make([]byte, rng.IntN(5))
		for i := range b {
			b[i] = "ab\x00\xff"[rng.IntN(4)]
		}
		return string(b)
	}
	idx := subscriberTrie{limit: 1 << 30}
	subs := make([]*subscriber, 12)
	models := map[*subscriber]subModel{}
	for i := range subs {
		subs[i] = &subscriber{}
		models[subs[i]] = subModel{}
	}
	for step := range 20000 {
		s, topic := subs[rng.IntN(len(subs))], word()
		m := models[s]
		if rng.IntN(2) == 0 {
			if s.topics.add(topic) {
				if err := idx.add(s, topic); err != nil {
					t.Fatal(err)
				}
			}
			m.add(topic)
		} else {
			if _, last := s.topics.remove(topic); last {
				idx.remove(s, topic)
			}
			m.remove(topic)
		}
		probes := [][]byte{[]byte(topic), []byte(word() + word()), nil}
		if step%16 == 0 {
			checkIndexAgainstModels(t, &idx, models, probes...)
		}
	}
	checkIndexAgainstModels(t, &idx, models, []byte("a"), []byte("ab\x00\xff"), nil)
	for _, s := range subs {
		for _, topic := range s.topics.topics() {
			idx.remove(s, topic)
		}
	}
	if root := idx.nodes.root; idx.size() != 0 || root.held || len(root.kids) != 0 {
		t.Fatalf("after every subscriber left: %d bytes charged, root %+v", idx.size(), root)
	}
}

// A node many subscribers hold indexes its set: removing them in any
// order, across the index's threshold both ways, keeps the set exact.
func TestSubscriberSetAcrossItsIndexThreshold(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var set subscriberSet
	var in []*subscriber
	for step := range 5000 {
		if len(in) == 0 || rng.IntN(5) < 3 && len(in) < 3*subscriberSetIndexAt {
			s := &subscriber{}
			set.add(s)
			in = append(in, s)
		} else {
			i := rng.IntN(len(in))
			if !set.remove(in[i]) {
				t.Fatalf("step %d: a subscriber in the set is not removed", step)
			}
			in = slices.Delete(in, i, i+1)
		}
		if set.remove(&subscriber{}) {
			t.Fatalf("step %d: a subscriber never added is removed", step)
		}
		if len(set.list) != len(in) || set.pos != nil && len(set.pos) != len(in) {
			t.Fatalf("step %d: set holds %d (index %d), want %d", step, len(set.list), len(set.pos), len(in))
		}
		for _, s := range in {
			if !slices.Contains(set.list, s) || set.pos != nil && set.list[set.pos[s]] != s {
				t.Fatalf("step %d: a subscriber added is missing or misindexed", step)
			}
		}
	}
}

// The publisher-wide bound refuses the subscription that would pass it,
// and what leaves gives its bytes back.
func TestSubscriberTrieBoundsTheBytesHeld(t *testing.T) {
	topic := func(i int) string { return fmt.Sprintf("INFO.%04d", i) }
	limit := 3 * subscriptionCost(topic(0))
	idx := subscriberTrie{limit: limit}
	a, b := &subscriber{}, &subscriber{}
	for i, s := range []*subscriber{a, a, b} {
		if err := idx.add(s, topic(i)); err != nil {
			t.Fatalf("subscription %d: %v", i, err)
		}
	}
	err := idx.add(b, topic(3))
	if !errors.Is(err, ErrOverSubscribed) || !strings.Contains(err.Error(), "MaxPublisherSubscriptionBytes") {
		t.Fatalf("the subscription past the bound: %v, want ErrOverSubscribed naming MaxPublisherSubscriptionBytes", err)
	}
	if idx.size() != limit || len(matched(t, &idx, []byte(topic(3)))) != 0 {
		t.Fatalf("a refused subscription changed the index: %d bytes of %d", idx.size(), limit)
	}
	idx.remove(a, topic(0))
	if err := idx.add(b, topic(3)); err != nil {
		t.Fatalf("after a cancel gave room back: %v", err)
	}
}

// What Options.MaxPublisherSubscriptionBytes charges for a subscription
// covers what it keeps alive: 64 subscribers with 1024 distinct topics
// each, topics that share nothing (random bytes, the most nodes), share a
// long prefix, are one topic for every subscriber, or are long.
func TestSubscriptionCostCoversWhatItKeepsAlive(t *testing.T) {
	const subscribers, topics = 64, 1024
	shapes := map[string]func(rng *rand.Rand, s, i int) string{
		"random 3 bytes": func(rng *rand.Rand, _, _ int) string { return randomTopic(rng, 3) },
		"random 9 bytes": func(rng *rand.Rand, _, _ int) string { return randomTopic(rng, 9) },
		"shared prefix":  func(_ *rand.Rand, s, i int) string { return fmt.Sprintf("INFO.api.%02x.%04x", s, i) },
		"one topic set":  func(_ *rand.Rand, _, i int) string { return fmt.Sprintf("INFO.%04x", i) },
		"random 200":     func(rng *rand.Rand, _, _ int) string { return randomTopic(rng, 200) },
	}
	for name, topic := range shapes {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 8))
			p := newPublisher(Options{MaxSubscriptions: topics, MaxSubscriptionBytes: 1 << 30, MaxPublisherSubscriptionBytes: 1 << 40}.withDefaults())
			subs := make([]*subscriber, subscribers)
			before := heapAlloc()
			for si := range subs {
				subs[si] = &subscriber{}
				for i := range topics {
					if err := p.change(subs[si], subscriptionChange{subscribe: true, topic: topic(rng, si, i)}); err != nil {
						t.Fatal(err)
					}
				}
			}
			kept := int64(heapAlloc() - before)
			charged := p.index.size()
			t.Logf("%d subscriptions keep %d bytes alive, charged %d (%.0f%%)", subscribers*topics, kept, charged, 100*float64(kept)/float64(charged))
			if kept > charged {
				t.Fatalf("%d subscriptions keep %d bytes alive, more than the %d charged", subscribers*topics, kept, charged)
			}
			runtime.KeepAlive(subs)
		})
	}
}

func randomTopic(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return string(b)
}

func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
