package zsock

import (
	"context"
	"sync"
)

// AwaitSubscriptions returns once ready holds for the publisher's Stats,
// or ctx.Err() when ctx ends first. ready is checked at once, then again
// each time a subscriber connects, leaves, or changes its subscriptions:
// nothing polls, so a caller can wait for "two subscribers hold ERROR"
// without guessing a tick, and Publish pays nothing for it. A publisher
// that closes with no subscriber left changes nothing more; bound the
// wait with ctx.
//
// ready runs on the caller's goroutine and sees one Stats snapshot at a
// time; it is meant for setup and tests, which need to know a
// subscription has arrived before publishing what it asked for.
func (p *Publisher) AwaitSubscriptions(ctx context.Context, ready func(PublisherStats) bool) error {
	for {
		// Take the signal before looking: a change made after the look
		// then closes the channel in hand, so it cannot be missed.
		changed := p.changes.next()
		if ready(p.Stats()) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// changeSignal wakes everyone waiting for the next change: a change
// closes the channel the waiters hold, and the next waiter gets a fresh
// one. The channel is made only when someone waits, so a change nobody
// awaits costs a lock and nothing more. Changes come from subscribers'
// reader goroutines, never from Publish.
type changeSignal struct {
	mu sync.Mutex
	ch chan struct{} // nil when nobody waits
}

// next returns a channel closed by the next change.
func (c *changeSignal) next() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

// changed wakes every waiter. Call it after the change is visible to
// Stats.
func (c *changeSignal) changed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch != nil {
		close(c.ch)
		c.ch = nil
	}
}
