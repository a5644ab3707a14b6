package zsock

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// subModel is the obvious implementation subTrie must agree with: a
// counted map, matched by trying every key.
type subModel map[string]int

func (m subModel) add(topic string) { m[topic]++ }

func (m subModel) remove(topic string) bool {
	if m[topic] == 0 {
		return false
	}
	if m[topic]--; m[topic] == 0 {
		delete(m, topic)
	}
	return true
}

func (m subModel) match(topic []byte) bool {
	for t := range m {
		if strings.HasPrefix(string(topic), t) {
			return true
		}
	}
	return false
}

func (m subModel) totals() (count, size int) {
	for t, n := range m {
		count += n
		size += n * len(t)
	}
	return count, size
}

func (m subModel) topics() []string {
	var out []string
	for t := range m {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// checkAgainstModel fails the test unless t and m hold the same
// subscriptions and agree on every probe.
func checkAgainstModel(tb testing.TB, tr *subTrie, m subModel, probes ...[]byte) {
	tb.Helper()
	count, size := m.totals()
	if tr.len() != count || tr.size() != size {
		tb.Fatalf("trie holds %d subscriptions of %d bytes, model %d of %d", tr.len(), tr.size(), count, size)
	}
	if got, want := tr.topics(), m.topics(); !slices.Equal(got, want) {
		tb.Fatalf("trie topics %q, model %q", got, want)
	}
	for _, p := range probes {
		if got, want := tr.match(p), m.match(p); got != want {
			tb.Fatalf("match(%q): trie %v, model %v (topics %q)", p, got, want, m.topics())
		}
	}
	checkInvariant(tb, &tr.counts.root, true)
}

// checkInvariant: every node but the root has a label, and either holds
// a key or has at least two children; children are sorted and indexed by
// their first byte.
func checkInvariant[V any](tb testing.TB, n *radixNode[V], root bool) {
	tb.Helper()
	if !root && (n.label == "" || !n.held && len(n.kids) < 2) {
		tb.Fatalf("node %q (holds a key: %v) with %d children breaks the invariant", n.label, n.held, len(n.kids))
	}
	if len(n.first) != len(n.kids) {
		tb.Fatalf("node %q: %d first bytes for %d children", n.label, len(n.first), len(n.kids))
	}
	for i, k := range n.kids {
		if k.label == "" || n.first[i] != k.label[0] || i > 0 && n.first[i-1] >= n.first[i] {
			tb.Fatalf("node %q: child %d (%q) out of order or misindexed (first %q)", n.label, i, k.label, n.first)
		}
		checkInvariant(tb, k, false)
	}
}

func TestSubTrie(t *testing.T) {
	type op struct {
		remove bool
		topic  string
		ok     bool // what remove reports
	}
	sub := func(topic string) op { return op{topic: topic} }
	cancel := func(topic string, ok bool) op { return op{remove: true, topic: topic, ok: ok} }
	tests := []struct {
		name    string
		ops     []op
		match   []string
		nomatch []string
	}{
		{name: "empty matches nothing", nomatch: []string{"", "A"}},
		{name: "empty topic matches everything", ops: []op{sub("")}, match: []string{"", "A", "\x00\xff"}},
		{
			name:    "prefixes",
			ops:     []op{sub("ERROR"), sub("WARN")},
			match:   []string{"ERROR", "ERROR.api", "WARN", "WARNING"},
			nomatch: []string{"", "ERR", "INFO", "EROR", "WAR"},
		},
		{
			name:    "a split keeps both sides",
			ops:     []op{sub("INFO.api"), sub("INFO.app")},
			match:   []string{"INFO.api", "INFO.app.x"},
			nomatch: []string{"INFO.", "INFO.ap", "INFO.apx"},
		},
		{
			name:    "a prefix of a longer subscription",
			ops:     []op{sub("INFO.api"), sub("INFO")},
			match:   []string{"INFO", "INFO.x"},
			nomatch: []string{"INF"},
		},
		{
			name:    "counted: two subscribes need two cancels",
			ops:     []op{sub("ERROR"), sub("ERROR"), cancel("ERROR", true)},
			match:   []string{"ERROR"},
			nomatch: []string{"WARN"},
		},
		{
			name:    "the last cancel removes it",
			ops:     []op{sub("ERROR"), sub("ERROR"), cancel("ERROR", true), cancel("ERROR", true), cancel("ERROR", false)},
			nomatch: []string{"ERROR", ""},
		},
		{
			name:    "cancelling what was never subscribed changes nothing",
			ops:     []op{sub("INFO.api"), cancel("INFO", false), cancel("INFO.api.x", false), cancel("", false), cancel("X", false)},
			match:   []string{"INFO.api"},
			nomatch: []string{"INFO"},
		},
		{
			name:    "cancelling a branch merges the chain back",
			ops:     []op{sub("INFO.api"), sub("INFO.app"), cancel("INFO.app", true)},
			match:   []string{"INFO.api"},
			nomatch: []string{"INFO.app"},
		},
		{
			name:    "cancelling the middle of a chain",
			ops:     []op{sub("A"), sub("AB"), sub("ABC"), cancel("AB", true)},
			match:   []string{"A", "AB", "ABC"},
			nomatch: []string{"B", ""},
		},
		{
			name:    "the empty topic among others",
			ops:     []op{sub("A"), sub(""), cancel("", true)},
			match:   []string{"A"},
			nomatch: []string{"", "B"},
		},
		{
			name:  "binary topics, every byte value",
			ops:   []op{sub("\x00"), sub("\xff"), sub("\x00\xff\x00")},
			match: []string{"\x00", "\xff\xff", "\x00\x01"},
			nomatch: []string{
				"\x01", "\xfe",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr subTrie
			m := subModel{}
			for _, o := range tt.ops {
				if !o.remove {
					tr.add(o.topic)
					m.add(o.topic)
					continue
				}
				if got, _ := tr.remove(o.topic); got != o.ok {
					t.Fatalf("remove(%q) = %v, want %v", o.topic, got, o.ok)
				}
				m.remove(o.topic)
			}
			for _, topic := range tt.match {
				if !tr.match([]byte(topic)) {
					t.Errorf("%q does not match, want a match", topic)
				}
			}
			for _, topic := range tt.nomatch {
				if tr.match([]byte(topic)) {
					t.Errorf("%q matches, want none", topic)
				}
			}
			checkAgainstModel(t, &tr, m)
		})
	}
}

// Random subscribes and cancels over a small alphabet (so topics share
// prefixes and splits and merges happen all the time) agree with the
// counted-map model at every step. FuzzSubscriptions does the same with
// what a peer sends.
func TestSubTrieMatchesCountedMapModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		b := make([]byte, rng.IntN(6))
		for i := range b {
			b[i] = "ab\x00\xff"[rng.IntN(4)]
		}
		return string(b)
	}
	var tr subTrie
	m := subModel{}
	for step := range 10000 {
		topic := word()
		before := m[topic]
		if rng.IntN(2) == 0 {
			if first := tr.add(topic); first != (before == 0) {
				t.Fatalf("step %d: add(%q) with %d in force says first %v", step, topic, before, first)
			}
			m.add(topic)
		} else {
			ok, last := tr.remove(topic)
			if ok != m.remove(topic) || last != (before == 1) {
				t.Fatalf("step %d: remove(%q) with %d in force = %v, %v", step, topic, before, ok, last)
			}
		}
		probes := [][]byte{[]byte(topic), []byte(word() + word()), append([]byte(topic), 'a')}
		for _, p := range probes {
			if got, want := tr.match(p), m.match(p); got != want {
				t.Fatalf("step %d: match(%q): trie %v, model %v (topics %q)", step, p, got, want, m.topics())
			}
		}
		if step%64 == 0 {
			checkAgainstModel(t, &tr, m)
		}
	}
	checkAgainstModel(t, &tr, m)
}

// After everything is cancelled the trie is back to an empty root: nodes
// do not pile up under subscribe/cancel churn.
func TestSubTrieGivesNodesBack(t *testing.T) {
	var tr subTrie
	topics := []string{"INFO.api", "INFO.app", "INFO", "ERROR", "", "INFO.api.v2", "E"}
	for range 3 {
		for _, topic := range topics {
			tr.add(topic)
		}
		for _, topic := range slices.Backward(topics) {
			tr.remove(topic)
		}
	}
	if root := tr.counts.root; tr.len() != 0 || tr.size() != 0 || root.held || len(root.kids) != 0 {
		t.Fatalf("after cancelling everything: %d subscriptions, %d bytes, root %+v", tr.len(), tr.size(), root)
	}
}
