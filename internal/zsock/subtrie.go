package zsock

// subTrie holds one subscriber's subscriptions, counted as libzmq's
// trie.cpp counts them: subscribing to a topic twice needs two cancels.
// It is a radixTrie of counts, so
//
//	add / remove   O(len(topic))
//	match          O(len(topic))   whatever the number of subscriptions
//
// add and remove say when a topic's count goes 0→1 and 1→0: those are the
// moments the publisher's subscriberTrie gains and loses the subscriber at
// that topic. The trie also keeps the totals the publisher bounds: how
// many subscriptions are in force (repeats included) and how many topic
// bytes they name.
//
// A subTrie is not safe for concurrent use.
type subTrie struct {
	counts radixTrie[int]
	count  int // subscriptions in force, repeats included
	bytes  int // sum of their topic lengths, repeats included
}

// len returns the number of subscriptions in force, repeats included.
func (t *subTrie) len() int { return t.count }

// size returns the sum of the subscribed topics' lengths, repeats included.
func (t *subTrie) size() int { return t.bytes }

// holds reports whether topic has a subscription in force.
func (t *subTrie) holds(topic string) bool { return t.counts.get(topic) != nil }

// add subscribes to topic once more. It reports whether topic is new: it
// had no subscription in force before.
func (t *subTrie) add(topic string) (first bool) {
	t.count++
	t.bytes += len(topic)
	n, first := t.counts.put(topic)
	*n++
	return first
}

// remove cancels one subscription to topic. It reports ok false, and
// changes nothing, when topic has no subscription in force (as in libzmq,
// such a cancel is ignored), and last true when it cancelled the topic's
// last subscription.
func (t *subTrie) remove(topic string) (ok, last bool) {
	n := t.counts.get(topic)
	if n == nil {
		return false, false
	}
	t.count--
	t.bytes -= len(topic)
	if *n--; *n > 0 {
		return true, false
	}
	t.counts.delete(topic)
	return true, true
}

// match reports whether some subscription is a prefix of topic. It reads
// each byte of topic at most once.
func (t *subTrie) match(topic []byte) bool {
	found := false
	t.counts.visitPrefixes(topic, func(*int) bool {
		found = true
		return false
	})
	return found
}

// topics returns the distinct topics subscribed, in byte order.
func (t *subTrie) topics() []string { return t.counts.keys() }
