package collector

import (
	"sync/atomic"
	"time"

	"github.com/zmqlog/zmqlog/internal/zsock"
)

// Stats is a snapshot of what a collector has seen.
type Stats struct {
	// Messages received, of which Batches from zmqlog producers and Plain
	// single entries from other ZeroMQ peers; Bytes their size.
	Messages, Batches, Plain, Bytes uint64
	// Received counts entries in those messages.
	Received uint64
	// Stored counts entries written to the file; StoreFailed entries lost
	// to write errors; StoreTooLarge entries larger than the file may grow
	// (Config.MaxSizeMB), which no file could hold. Both are reported in
	// the log too; such an entry is still published and forwarded.
	Stored, StoreFailed, StoreTooLarge uint64
	// Published counts entries queued for at least one subscriber;
	// SubscriberDropped copies dropped because a subscriber's queue was
	// full.
	Published, SubscriberDropped uint64
	Subscribers                  int
	// Wrapped counts entries that were not JSON objects and were stored
	// wrapped in one.
	Wrapped uint64
	// InvalidUTF8 counts entries skipped for invalid UTF-8; Malformed and
	// UnknownVersion messages skipped whole.
	InvalidUTF8, Malformed, UnknownVersion uint64
	// Forwarded counts messages written to the next tier; ForwardDropped
	// entries it could not take (its queue was full); ForwardAbandoned
	// entries still waiting for it when Run stopped and gave up on them
	// (after 2s; reported in the log too).
	Forwarded, ForwardDropped, ForwardAbandoned uint64
	// Gaps counts entries producers numbered that were missing when a
	// later batch arrived, over all producers; GapsRepaired those of them
	// a late batch brought after all (it was overtaken on another
	// connection). Both only grow; Gaps − GapsRepaired were lost in
	// transit.
	Gaps, GapsRepaired uint64
	// LiveProducers counts producers heard from in the last minute;
	// Producers has each producer the collector remembers.
	LiveProducers int
	Producers     []ProducerStats
	// Connections counts producer connections open now.
	Connections int64
	// ProducerPeers and SubscriberPeers count the peers dropped on the
	// PULL and the PUB port.
	ProducerPeers, SubscriberPeers RejectedPeers
	// BatchSizes counts batches by entries per batch, bucketed by
	// BatchSizeBuckets.
	BatchSizes    [len(BatchSizeBuckets) + 1]uint64
	BatchEntrySum uint64
	// SeriesSkipped counts metric series left out of Prometheus scrapes
	// because a label could not be exposed (reported in the log).
	SeriesSkipped uint64
	Uptime        time.Duration
}

// RejectedPeers counts the peers a port dropped, by reason.
type RejectedPeers struct {
	// HandshakeFailed: no complete ZMTP handshake in time (silence,
	// garbage, a wrong socket type, malformed metadata).
	HandshakeFailed uint64
	// Oversized: a message announced over the size limit.
	Oversized uint64
	// Malformed: other protocol errors after the handshake.
	Malformed uint64
	// Panics: the ZMTP codec panicked on the peer's bytes (contained to
	// that connection).
	Panics uint64
	// OverLimit: turned away at the connection limit; OverHostLimit: at
	// the limit of connections per host.
	OverLimit, OverHostLimit uint64
	// Silent: answered neither traffic nor a PING (Limits.IdlePing).
	Silent uint64
	// OverBudget: held too much of the receive budget with messages in
	// progress.
	OverBudget uint64
	// OverSubscriptions: a subscriber asked for more subscriptions than
	// Limits.MaxSubscriptions allows (PUB only).
	OverSubscriptions uint64
	// MechanismMismatch: a NULL peer at a CURVE port, or a CURVE peer at
	// a NULL one.
	MechanismMismatch uint64
	// Unauthorized: a CURVE client whose key is not in CurveClients.
	Unauthorized uint64
	// BadCrypto: a CURVE box that did not open (a client given another
	// server key, a forged or replayed handshake, a tampered message) or
	// a message nonce out of order.
	BadCrypto uint64
	// OverHandshakeRate: a host starting CURVE handshakes faster than
	// Limits.HandshakeRate; CryptoBusy: a peer that would have waited
	// past its handshake deadline for the CURVE cryptography, which runs
	// on fewer cores than the machine has so ingest keeps one.
	OverHandshakeRate, CryptoBusy uint64
}

func rejectedPeers(ls zsock.ListenerStats) RejectedPeers {
	return RejectedPeers{
		HandshakeFailed: ls.HandshakeFailed, Oversized: ls.Oversized, Malformed: ls.Malformed, Panics: ls.Panics,
		OverLimit: ls.OverLimit, OverHostLimit: ls.OverHostLimit, Silent: ls.Silent, OverBudget: ls.OverBudget,
		MechanismMismatch: ls.MechanismMismatch, Unauthorized: ls.Unauthorized, BadCrypto: ls.BadCrypto,
		OverHandshakeRate: ls.OverHandshakeRate, CryptoBusy: ls.CryptoBusy,
	}
}

// BatchSizeBuckets are the upper bounds of Stats.BatchSizes' buckets; the
// last bucket counts larger batches.
var BatchSizeBuckets = [...]int{1, 10, 100, 1000, 10000}

type batchSizes struct {
	counts [len(BatchSizeBuckets) + 1]atomic.Uint64
	sum    atomic.Uint64
}

func (h *batchSizes) observe(n int) {
	i := 0
	for i < len(BatchSizeBuckets) && n > BatchSizeBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(uint64(n))
}

// liveWindow is how recently a producer must have sent to count as live.
const liveWindow = time.Minute

// Stats returns the collector's counters.
func (c *Collector) Stats() Stats {
	st := Stats{
		Messages: c.count.messages.Load(), Batches: c.count.batches.Load(), Plain: c.count.plain.Load(),
		Bytes: c.count.bytes.Load(), Received: c.count.received.Load(), Published: c.count.published.Load(),
		Wrapped: c.count.wrapped.Load(), InvalidUTF8: c.count.invalidUTF8.Load(), Malformed: c.count.malformed.Load(),
		UnknownVersion: c.count.unknownVersion.Load(), Forwarded: c.count.forwarded.Load(),
		ForwardDropped: c.count.forwardDropped.Load(), ForwardAbandoned: c.count.forwardAbandoned.Load(),
		SeriesSkipped: c.count.seriesSkipped.Load(),
		Uptime:        time.Since(c.started),
	}
	st.Stored, st.StoreFailed, st.StoreTooLarge = c.store.counts()
	for i := range st.BatchSizes {
		st.BatchSizes[i] = c.batchHis.counts[i].Load()
	}
	st.BatchEntrySum = c.batchHis.sum.Load()
	ls := c.pull.Stats()
	st.Connections, st.ProducerPeers = ls.Active, rejectedPeers(ls)
	if c.pub != nil {
		// Counters, not Stats: Stats copies every subscriber's topics,
		// up to 64 KiB a peer, and this runs every heartbeat and scrape.
		ps := c.pub.Counters()
		st.Subscribers, st.SubscriberDropped = c.pub.Subscribers(), ps.Dropped
		st.SubscriberPeers = rejectedPeers(ps.ListenerStats)
		st.SubscriberPeers.OverSubscriptions = ps.OverSubscribed
	}
	c.mu.Lock()
	st.Gaps, st.GapsRepaired = c.streams.gaps, c.streams.repaired
	st.Producers = c.streams.producers()
	c.mu.Unlock()
	for _, p := range st.Producers {
		if time.Since(p.LastSeen) < liveWindow {
			st.LiveProducers++
		}
	}
	return st
}
