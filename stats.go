package zmqlog

import (
	"time"

	"github.com/zmqlog/zmqlog/topic"
)

// Stats is a snapshot of a shipper's counters. Every entry handed to Ship
// is in exactly one place: Shipped == Sent + Dropped + Queued.
type Stats struct {
	// Shipped counts calls to Ship.
	Shipped uint64
	// Sent counts entries written whole to a collector connection. An
	// entry written just before its collector died can still be lost;
	// the collector counts such gaps from the batches' sequence numbers.
	Sent uint64
	// Batches and BytesSent count the batches written and their size.
	Batches, BytesSent uint64
	// Dropped counts entries given up on here, for any reason:
	Dropped uint64
	// DroppedQueueFull: the budget was full (refused or evicted);
	// DroppedTooLarge: over the maximum entry size; DroppedClosed:
	// shipped after Close, or still waiting when Close gave up.
	DroppedQueueFull, DroppedTooLarge, DroppedClosed uint64
	// DroppedByLevel splits Dropped by level name (DEBUG, INFO, WARN,
	// ERROR, DPANIC, PANIC, FATAL, and OTHER for unknown levels); levels
	// with no drops are absent.
	DroppedByLevel map[string]uint64
	// Queued counts entries accepted but neither sent nor dropped yet, and
	// QueuedBytes the memory holding them, which stays within the budget.
	Queued      int
	QueuedBytes int
	// Reconnects counts connections made to collectors after the first
	// one to each.
	Reconnects uint64
	// Endpoints has the state of each collector, in the order given.
	Endpoints []EndpointStatus
}

// EndpointStatus is the state of the connection to one collector.
type EndpointStatus struct {
	Endpoint  string
	Connected bool
	// Since is when Connected last changed.
	Since time.Time
	// Connects counts completed connections; Failures failed attempts.
	Connects, Failures uint64
	// LastError is the last dial or connection error.
	LastError string
}

// Stats returns the shipper's counters.
func (s *Shipper) Stats() Stats {
	s.mu.Lock()
	c := s.count
	allocated := s.q.allocated
	s.mu.Unlock()
	st := Stats{
		Shipped: c.shipped, Sent: c.sent, Batches: c.batches, BytesSent: c.bytesSent,
		DroppedQueueFull: c.dropped[queueFull], DroppedTooLarge: c.dropped[tooLarge], DroppedClosed: c.dropped[closedShipper],
		Queued: c.queued, QueuedBytes: allocated,
	}
	st.Dropped = st.DroppedQueueFull + st.DroppedTooLarge + st.DroppedClosed
	for sev, n := range c.droppedLevel {
		if n > 0 {
			if st.DroppedByLevel == nil {
				st.DroppedByLevel = map[string]uint64{}
			}
			st.DroppedByLevel[topic.Severity(sev).String()] += n
		}
	}
	for _, e := range s.push.Stats().Endpoints {
		if e.Connects > 1 {
			st.Reconnects += e.Connects - 1
		}
		st.Endpoints = append(st.Endpoints, EndpointStatus{
			Endpoint: e.Endpoint, Connected: e.Connected, Since: e.Since,
			Connects: e.Connects, Failures: e.Failures, LastError: e.LastError,
		})
	}
	return st
}
