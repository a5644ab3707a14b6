package zsock

import (
	"bytes"
	"strings"
)

// radixTrie maps byte strings (topics) to values of type V, and finds the
// keys that are prefixes of a topic by walking the topic once. It is the
// shared node code of the two subscription tries: a subscriber's own
// counted subTrie (V is a count) and the publisher's subscriberTrie, one
// trie over all subscribers as libzmq's mtrie (V is a set of subscribers).
//
// Paths are compressed, so the trie holds at most two nodes per key
// whatever the keys' lengths:
//
//	put / get / delete   O(len(key))   (plus at most 256 steps in one child list)
//	visitPrefixes        O(len(topic) + keys visited)
//
// Every label is a copy of its own, never a slice of a longer string, so
// the trie keeps alive only the bytes it holds: after deletes and merges
// an old key's bytes are garbage.
//
// A radixTrie is not safe for concurrent use.
type radixTrie[V any] struct {
	root radixNode[V]
}

// radixNode is one node of the trie. Every node but the root has a
// non-empty label, and (the invariant delete keeps) either holds a key or
// has at least two children; so a chain of single children is always one
// node.
type radixNode[V any] struct {
	label string // the bytes on the edge from the parent
	held  bool   // a key ends here, and val is its value
	val   V
	first []byte          // first[i] == kids[i].label[0]; sorted
	kids  []*radixNode[V] // children, in the order of first
}

// child returns the index of the child whose label starts with b, or -1.
func (n *radixNode[V]) child(b byte) int {
	return bytes.IndexByte(n.first, b)
}

// insertChild adds k to n's children, keeping them sorted by first byte.
func (n *radixNode[V]) insertChild(k *radixNode[V]) {
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

func (n *radixNode[V]) removeChild(i int) {
	n.first = append(n.first[:i], n.first[i+1:]...)
	copy(n.kids[i:], n.kids[i+1:])
	n.kids[len(n.kids)-1] = nil
	n.kids = n.kids[:len(n.kids)-1]
	if len(n.kids) == 0 {
		n.first, n.kids = nil, nil
	}
}

// put returns the value of key, adding key with a zero value first when
// the trie does not hold it (added is then true).
func (t *radixTrie[V]) put(key string) (val *V, added bool) {
	n, rest := &t.root, key
	for rest != "" {
		i := n.child(rest[0])
		if i < 0 {
			k := &radixNode[V]{label: strings.Clone(rest), held: true}
			n.insertChild(k)
			return &k.val, true
		}
		k := n.kids[i]
		common := commonPrefix(k.label, rest)
		if common < len(k.label) {
			// Split k: a new node holds the shared part, k keeps the rest.
			mid := &radixNode[V]{label: strings.Clone(k.label[:common])}
			k.label = strings.Clone(k.label[common:])
			mid.insertChild(k)
			n.kids[i] = mid
			k = mid
		}
		n, rest = k, rest[common:]
	}
	added = !n.held
	n.held = true
	return &n.val, added
}

// get returns the value of key, or nil when the trie does not hold key.
func (t *radixTrie[V]) get(key string) *V {
	n, rest := &t.root, key
	for rest != "" {
		i := n.child(rest[0])
		if i < 0 || !strings.HasPrefix(rest, n.kids[i].label) {
			return nil
		}
		n, rest = n.kids[i], rest[len(n.kids[i].label):]
	}
	if !n.held {
		return nil
	}
	return &n.val
}

// delete removes key and its value. It reports false, and changes
// nothing, when the trie does not hold key.
func (t *radixTrie[V]) delete(key string) bool {
	// path[i] is the parent of the node reached at step i, idx[i] that
	// node's index among its parent's children.
	var pathBuf [16]*radixNode[V]
	var idxBuf [16]int
	path, idx := pathBuf[:0], idxBuf[:0]
	n, rest := &t.root, key
	for rest != "" {
		i := n.child(rest[0])
		if i < 0 || !strings.HasPrefix(rest, n.kids[i].label) {
			return false
		}
		path, idx = append(path, n), append(idx, i)
		n, rest = n.kids[i], rest[len(n.kids[i].label):]
	}
	if !n.held {
		return false
	}
	var zero V
	n.held, n.val = false, zero // let go of what the value points to
	// Restore the invariant bottom-up: a node that holds no key goes when
	// it has no children and merges with its child when it has one. Only
	// the node itself and its parent can have broken it.
	for level := len(path) - 1; level >= 0 && level >= len(path)-2; level-- {
		parent, i := path[level], idx[level]
		k := parent.kids[i]
		if k.held {
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

// visitPrefixes calls visit with the value of every key that is a prefix
// of topic, shortest first, until visit returns false. It reads each byte
// of topic at most once.
func (t *radixTrie[V]) visitPrefixes(topic []byte, visit func(*V) bool) {
	n := &t.root
	for {
		if n.held && !visit(&n.val) {
			return
		}
		if len(topic) == 0 {
			return
		}
		i := n.child(topic[0])
		if i < 0 {
			return
		}
		k := n.kids[i]
		if len(topic) < len(k.label) || string(topic[:len(k.label)]) != k.label {
			return
		}
		n, topic = k, topic[len(k.label):]
	}
}

// keys returns the keys the trie holds, in byte order.
func (t *radixTrie[V]) keys() []string {
	var out []string
	var walk func(n *radixNode[V], prefix string)
	walk = func(n *radixNode[V], prefix string) {
		prefix += n.label
		if n.held {
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
