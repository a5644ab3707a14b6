// Package testcollector is a minimal collector for tests: a PULL socket on
// loopback whose messages are decoded into entries, checking on the way
// that every producer stream's sequence numbers continue without a gap.
package testcollector

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/zmqlog/zmqlog/internal/zsock"
	"github.com/zmqlog/zmqlog/wire"
)

// Entry is one received entry.
type Entry struct {
	Topic, Data string
	Producer    wire.Producer
}

// Collector receives entries for a test.
type Collector struct {
	t    testing.TB
	Pull *zsock.Puller

	mu      sync.Mutex
	streams map[string]uint64 // next expected sequence number per stream
}

// Start listens on endpoint ("tcp://127.0.0.1:0" for a free port) until
// the test ends.
func Start(t testing.TB, endpoint string) *Collector {
	t.Helper()
	ep, err := zsock.ParseEndpoint(endpoint, true)
	if err != nil {
		t.Fatal(err)
	}
	pull, err := zsock.ListenPull(ep, zsock.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pull.Close() })
	return &Collector{t: t, Pull: pull, streams: map[string]uint64{}}
}

// Endpoint is where producers connect.
func (c *Collector) Endpoint() string { return c.Pull.Endpoint() }

// Receive returns the entries of the next message. A batch that does not
// continue its stream's sequence fails the test.
func (c *Collector) Receive(ctx context.Context) ([]Entry, error) {
	m, err := c.Pull.Recv(ctx)
	if err != nil {
		return nil, err
	}
	b, err := wire.Decode(m.Frames)
	if err != nil {
		c.t.Errorf("decode: %v", err)
		return nil, err
	}
	if !b.Plain {
		key := fmt.Sprintf("%s/%d", b.Producer, b.Stream)
		c.mu.Lock()
		if next := c.streams[key]; b.FirstSeq != next {
			c.t.Errorf("stream %s: batch starts at %d, want %d", key, b.FirstSeq, next)
		}
		c.streams[key] = b.FirstSeq + uint64(b.Count)
		c.mu.Unlock()
	}
	var out []Entry
	for topic, data := range b.Entries() {
		out = append(out, Entry{string(topic), string(data), b.Producer})
	}
	return out, nil
}

// ReceiveN returns the next n entries, failing the test if they do not
// arrive before ctx ends or if more arrive in the last message.
func (c *Collector) ReceiveN(ctx context.Context, n int) []Entry {
	c.t.Helper()
	var out []Entry
	for len(out) < n {
		es, err := c.Receive(ctx)
		if err != nil {
			c.t.Fatalf("after %d of %d entries: %v", len(out), n, err)
		}
		out = append(out, es...)
	}
	if len(out) != n {
		c.t.Fatalf("received %d entries, want %d", len(out), n)
	}
	return out
}
