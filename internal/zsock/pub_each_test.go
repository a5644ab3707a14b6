package zsock

import (
	"fmt"
	"slices"
	"testing"
)

// PublishEach is Publish for many messages: every subscriber's queue ends
// up holding what a Publish per message would have queued, in the same
// order and copied from the caller's buffers, with the same bounds
// refusing the same messages and the same counts; and each writer is
// woken, once the run is queued.
type twin struct {
	p    *Publisher
	subs []*subscriber // all, INFO, ERROR; the last holds 100 messages at most
}

func TestPublishEachQueuesWhatPublishWould(t *testing.T) {
	newTwin := func() twin {
		p := newPublisher(Options{}.withDefaults())
		p.a = &acceptor{} // for Counters; no listener
		tw := twin{p: p}
		for i, topic := range []string{"", "INFO", "ERROR"} {
			maxCount := p.opts.SendQueue
			if i == 2 {
				maxCount = 100
			}
			s := &subscriber{q: newSendQueue(maxCount, p.opts.SendQueueBytes, &p.budget)}
			if err := p.change(s, subscriptionChange{subscribe: true, topic: topic}); err != nil {
				t.Fatal(err)
			}
			tw.subs = append(tw.subs, s)
		}
		return tw
	}
	// Topics in turn, and in runs of one topic (matched once for the run,
	// each queue locked once for it), some longer than a run of the lock.
	for _, topicOf := range []func(i int) int{
		func(i int) int { return i % 3 },
		func(i int) int { return (i / 7) % 3 },
		func(i int) int { return (i / 300) % 3 },
	} {
		testPublishEachQueuesWhatPublishWould(t, newTwin, topicOf)
	}
}

func testPublishEachQueuesWhatPublishWould(t *testing.T, newTwin func() twin, topicOf func(i int) int) {
	// More messages than one run holds, and more ERRORs than its queue.
	buf := make([]byte, 0, 3*publishRun*32)
	var msgs [][][]byte
	for i := range 3*publishRun + 7 {
		topic := [...]string{"INFO.api", "ERROR.db", "DEBUG"}[topicOf(i)]
		start := len(buf)
		buf = append(buf, topic...)
		mid := len(buf)
		buf = fmt.Appendf(buf, `{"n":%d}`, i)
		msgs = append(msgs, [][]byte{buf[start:mid:mid], buf[mid:]})
	}
	one, each := newTwin(), newTwin()
	wantReached := 0
	for _, m := range msgs {
		if one.p.Publish(m) > 0 {
			wantReached++
		}
	}
	if got := each.p.PublishEach(msgs); got != wantReached {
		t.Errorf("PublishEach reached subscribers with %d messages, Publish with %d", got, wantReached)
	}
	clear(buf) // the caller may reuse its buffers once PublishEach returns

	if got, want := each.p.Counters(), one.p.Counters(); got.Published != want.Published || got.Dropped != want.Dropped || got.QueuedBytes != want.QueuedBytes {
		t.Errorf("PublishEach counted published %d, dropped %d, queued bytes %d; Publish %d, %d, %d",
			got.Published, got.Dropped, got.QueuedBytes, want.Published, want.Dropped, want.QueuedBytes)
	}
	if dropped := each.subs[2].q.dropped(); dropped == 0 {
		t.Errorf("the ERROR subscriber's bound of 100 refused nothing of %d ERRORs", len(msgs)/3)
	}
	for i := range each.subs {
		got, want := queued(each.subs[i].q), queued(one.subs[i].q)
		if !slices.Equal(got, want) || each.subs[i].q.dropped() != one.subs[i].q.dropped() {
			t.Errorf("subscriber %d: PublishEach queued %d messages (%d dropped), Publish %d (%d dropped); first %q, want %q",
				i, len(got), each.subs[i].q.dropped(), len(want), one.subs[i].q.dropped(), first(got), first(want))
		}
		if len(each.subs[i].q.wake) != 1 {
			t.Errorf("subscriber %d: its writer was not woken", i)
		}
		if each.subs[i].due {
			t.Errorf("subscriber %d: still marked due after PublishEach", i)
		}
	}
	if len(each.p.due) != 0 {
		t.Errorf("the publisher still lists %d subscribers as due", len(each.p.due))
	}
}

// queued returns what q holds, each message as "topic entry".
func queued(q *sendQueue) []string {
	var out []string
	for _, m := range q.take(nil, 1<<62) {
		f := m.appendFrames(nil)
		out = append(out, string(f[0])+" "+string(f[1]))
	}
	return out
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
