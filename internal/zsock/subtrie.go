package zsock

import (
	"bytes"
	"strings"
)

// subTrie holds one subscriber's subscriptions: a counted prefix trie, as
// libzmq's trie.cpp, with path compression so that it holds at most two
// nodes per distinct topic whatever their length.
//
//	add / remove   O(len(topic))   (plus at most 256 steps in one child list)
//	match          O(len(topic))   whatever the number of subscriptions
//
// Subscriptions are counted: adding a topic twice needs two removes. The
// trie also keeps the totals the publisher bounds: how many subscriptions
// are in force (repeats included) and how many topic bytes they name.
//
// Every label is a copy of its own, never a slice of a longer string, so
// the trie keeps alive only the bytes it holds: after removals and merges
// an old topic's bytes are garbage.
//
// A subTrie is not safe for concurrent use.
type subTrie struct {
	root  subNode
	count int // subscriptions in force, repeats included
	bytes int // sum of their topic lengths, repeats included
}

// subNode is one node of the trie. Every node but the root has a
// non-empty label, and (the invariant remove keeps) either subscriptions
// ending at it or at least two children; so a chain of single children is
// always one node.
type subNode struct {
	label string     // the bytes on the edge from the parent
	subs  int        // subscriptions whose topic ends here
	first []byte     // first[i] == kids[i].label[0]; sorted
	kids  []*subNode // children, in the order of first
}

// child returns the index of the child whose label starts with b, or -1.
func (n *subNode) child(b byte) int {
	return bytes.IndexByte(n.first, b)
}

// insertChild adds k to n's children, keeping them sorted by first byte.
func (n *subNode) insertChild(k *subNode) {
	i := 0
	for i < len(n.first) && n.first[i] < k.label[0] {
		i++
	}
	n.first = append(n.first, 0)
	copy(n.first[i+1:], n.first[i:])
	n.first[i] = k.label[0]
	n.kids = append(n.kids, nil)
	copy(n.kids[i+1:], n.kids[i:])
	n.kids[i] = k
}

func (n *subNode) removeChild(i int) {
	n.first = append(n.first[:i], n.first[i+1:]...)
	copy(n.kids[i:], n.kids[i+1:])
	n.kids[len(n.kids)-1] = nil
	n.kids = n.kids[:len(n.kids)-1]
	if len(n.kids) == 0 {
		n.first, n.kids = nil, nil
	}
}

// len returns the number of subscriptions in force, repeats included.
func (t *subTrie) len() int { return t.count }

// size returns the sum of the subscribed topics' lengths, repeats included.
func (t *subTrie) size() int { return t.bytes }

// add subscribes to topic once more.
func (t *subTrie) add(topic string) {
	t.count++
	t.bytes += len(topic)
	n, rest := &t.root, topic
	for rest != "" {
		i := n.child(rest[0])
		if i < 0 {
			n.insertChild(&subNode{label: strings.Clone(rest), subs: 1})
			return
		}
		k := n.kids[i]
		common := commonPrefix(k.label, rest)
		if common < len(k.label) {
			// Split k: a new node holds the shared part, k keeps the rest.
			mid := &subNode{label: strings.Clone(k.label[:common])}
			k.label = strings.Clone(k.label[common:])
			mid.insertChild(k)
			n.kids[i] = mid
			k = mid
		}
		n, rest = k, rest[common:]
	}
	n.subs++
}

// remove cancels one subscription to topic. It reports false, and changes
// nothing, when topic has no subscription in force (as in libzmq, such a
// cancel is ignored).
func (t *subTrie) remove(topic string) bool {
	// path[i] is the parent of the node reached at step i, idx[i] that
	// node's index among its parent's children.
	var pathBuf [16]*subNode
	var idxBuf [16]int
	path, idx := pathBuf[:0], idxBuf[:0]
	n, rest := &t.root, topic
	for rest != "" {
		i := n.child(rest[0])
		if i < 0 || !strings.HasPrefix(rest, n.kids[i].label) {
			return false
		}
		path, idx = append(path, n), append(idx, i)
		n, rest = n.kids[i], rest[len(n.kids[i].label):]
	}
	if n.subs == 0 {
		return false
	}
	n.subs--
	t.count--
	t.bytes -= len(topic)
	// Restore the invariant bottom-up: a node with no subscriptions goes
	// when it has no children and merges with its child when it has one.
	// Only the node itself and its parent can have broken it.
	for level := len(path) - 1; level >= 0 && level >= len(path)-2; level-- {
		parent, i := path[level], idx[level]
		k := parent.kids[i]
		if k.subs > 0 {
			break
		}
		switch len(k.kids) {
		case 0:
			parent.removeChild(i)
		case 1:
			only := k.kids[0]
			only.label = k.label + only.label
			parent.kids[i] = only
		}
	}
	return true
}

// match reports whether some subscription is a prefix of topic. It reads
// each byte of topic at most once.
func (t *subTrie) match(topic []byte) bool {
	n := &t.root
	for {
		if n.subs > 0 {
			return true
		}
		if len(topic) == 0 {
			return false
		}
		i := n.child(topic[0])
		if i < 0 {
			return false
		}
		k := n.kids[i]
		if len(topic) < len(k.label) || string(topic[:len(k.label)]) != k.label {
			return false
		}
		n, topic = k, topic[len(k.label):]
	}
}

// topics returns the distinct topics subscribed, in byte order.
func (t *subTrie) topics() []string {
	var out []string
	var walk func(n *subNode, prefix string)
	walk = func(n *subNode, prefix string) {
		prefix += n.label
		if n.subs > 0 {
			out = append(out, prefix)
		}
		for _, k := range n.kids {
			walk(k, prefix)
		}
	}
	walk(&t.root, "")
	return out
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
