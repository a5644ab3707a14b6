package zsock

import (
	"fmt"
	"slices"
)

// subscriberTrie is the publisher's index of what every subscriber asked
// for: one prefix trie over all subscribers, as libzmq's mtrie, each node
// holding the set of subscribers subscribed to exactly its topic. The
// root holds the subscribers to "" (everything). Matching walks the
// topic once from the root and visits the subscribers met on the way:
//
//	add / remove   O(len(topic))
//	match          O(len(topic) + subscribers it matches)
//
// whatever the number of subscribers and subscriptions: a subscriber that
// asked for nothing a topic starts with costs that topic nothing.
//
// It holds each (subscriber, topic) once; the subscriber's own subTrie
// counts repeats and says when the topic comes (0→1) and goes (1→0).
//
// It also bounds the memory all its subscriptions keep alive, here and in
// the subscribers' own tries: each costs its topic's length plus
// subscriptionOverhead, and add refuses one that would take the total
// past limit (Options.MaxPublisherSubscriptionBytes).
//
// A subscriberTrie is not safe for concurrent use: the Publisher guards
// it with its mutex.
type subscriberTrie struct {
	nodes radixTrie[subscriberSet]
	held  int64 // bytes charged for the subscriptions held, at most limit
	limit int64
	// generation numbers the calls of match, so that each visits a
	// subscriber once however many of its topics are prefixes of the
	// topic matched: "E" and "ERROR" both match "ERROR.api".
	generation uint64
}

// subscriptionCost is what one distinct (subscriber, topic) keeps alive,
// charged against Options.MaxPublisherSubscriptionBytes: the topic's
// bytes twice (the subscriber's subTrie and the subscriberTrie each keep
// a copy) and subscriptionOverhead for the rest.
func subscriptionCost(topic string) int64 { return 2*int64(len(topic)) + subscriptionOverhead }

// subscriptionOverhead is what a distinct (subscriber, topic) keeps alive
// besides its topic's bytes, rounded up: at most two nodes in each trie
// (80 and 112 bytes), their places in their parents' child lists, and a
// slot in a subscriberSet. TestSubscriptionCostCoversWhatItKeepsAlive
// measures it: about 150 to 330 bytes, as the topics share prefixes or not.
const subscriptionOverhead = 384

// add records that s subscribes to topic, which it did not before. It
// refuses, and changes nothing, when that would take the bytes held past
// the limit.
func (t *subscriberTrie) add(s *subscriber, topic string) error {
	cost := subscriptionCost(topic)
	if t.held+cost > t.limit {
		return fmt.Errorf("%w: the publisher holds %d of its %d bytes of subscriptions (MaxPublisherSubscriptionBytes), subscribing to %.40q needs %d more",
			ErrOverSubscribed, t.held, t.limit, topic, cost)
	}
	t.held += cost
	set, _ := t.nodes.put(topic)
	set.add(s)
	return nil
}

// remove records that s no longer subscribes to topic.
func (t *subscriberTrie) remove(s *subscriber, topic string) {
	set := t.nodes.get(topic)
	if set == nil || !set.remove(s) {
		return
	}
	t.held -= subscriptionCost(topic)
	if len(set.list) == 0 {
		t.nodes.delete(topic)
	}
}

// size returns the bytes charged for the subscriptions held.
func (t *subscriberTrie) size() int64 { return t.held }

// match calls visit once for every subscriber with a subscription that
// is a prefix of topic.
func (t *subscriberTrie) match(topic []byte, visit func(*subscriber)) {
	t.generation++
	gen := t.generation
	t.nodes.visitPrefixes(topic, func(set *subscriberSet) bool {
		for _, s := range set.list {
			if s.matched != gen {
				s.matched = gen
				visit(s)
			}
		}
		return true
	})
}

// subscriberSet is the subscribers at one node of a subscriberTrie: a
// list to range over, and, once the list is long, an index of it, so that
// removing a subscriber costs the same however many hold the topic (an
// attacker's thousands of connections may all subscribe to one).
type subscriberSet struct {
	list []*subscriber
	pos  map[*subscriber]int // list[pos[s]] == s; nil while the list is short
}

// A set indexes its list past this many subscribers, and drops the index
// when it is back under half.
const subscriberSetIndexAt = 16

func (set *subscriberSet) add(s *subscriber) {
	set.list = append(set.list, s)
	switch {
	case set.pos != nil:
		set.pos[s] = len(set.list) - 1
	case len(set.list) > subscriberSetIndexAt:
		set.pos = make(map[*subscriber]int, len(set.list))
		for i, s := range set.list {
			set.pos[s] = i
		}
	}
}

// remove takes s out of the set, reporting whether it was there.
func (set *subscriberSet) remove(s *subscriber) bool {
	i, ok := -1, false
	if set.pos != nil {
		i, ok = set.pos[s]
		delete(set.pos, s)
	} else {
		i = slices.Index(set.list, s)
		ok = i >= 0
	}
	if !ok {
		return false
	}
	last := len(set.list) - 1
	set.list[i] = set.list[last]
	if set.pos != nil && i != last {
		set.pos[set.list[i]] = i
	}
	set.list[last] = nil
	set.list = set.list[:last]
	if set.pos != nil && len(set.list) < subscriberSetIndexAt/2 {
		set.pos = nil
	}
	if len(set.list) == 0 {
		set.list = nil
	}
	return true
}
