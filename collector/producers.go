package collector

import (
	"container/list"
	"time"

	"github.com/zmqlog/zmqlog/wire"
)

// maxStreams bounds the producer streams a collector remembers, so forged
// producer identities cannot grow its memory; the least recently seen
// stream is forgotten first.
const maxStreams = 10000

type streamKey struct {
	instance uint64
	stream   uint16
}

// stream is what the collector knows of one producer stream: the next
// sequence number it expects, and what it has counted.
type stream struct {
	key      streamKey
	producer wire.Producer
	next     uint64
	received uint64
	gaps     uint64 // entries missing between batches when counted
	repaired uint64 // of those, entries a late batch brought after all
	dropped  uint64 // the producer's own count of entries it dropped
	reorder  uint64 // batches that arrived behind the expected number
	holes    missingRanges
	lastSeen time.Time
	elem     *list.Element
}

// streams tracks sequence numbers per producer stream. It is used by
// ingest only (one batch at a time), and read under the collector's stats lock.
type streams struct {
	byKey map[streamKey]*stream
	lru   *list.List // front: most recently seen
	// All gaps counted and all repaired, including forgotten streams'.
	// Both only grow (they are Prometheus counters); loss is their
	// difference.
	gaps, repaired uint64
}

func newStreams() *streams {
	return &streams{byKey: map[streamKey]*stream{}, lru: list.New()}
}

// observe records a batch. A batch above the expected number shows the
// entries in between missing: they are counted as gaps at once, and
// remembered as a hole. A batch below it is late (its connection was
// slower than the one that overtook it): the entries of it that fill a
// remembered hole are counted as repaired, so gaps − repaired is what was
// lost. It returns the entries counted missing and repaired.
func (s *streams) observe(b *wire.Batch, now time.Time) (gap, repaired uint64) {
	k := streamKey{b.Producer.Instance, b.Stream}
	st := s.byKey[k]
	if st == nil {
		if len(s.byKey) >= maxStreams {
			oldest := s.lru.Back()
			old := oldest.Value.(*stream)
			delete(s.byKey, old.key)
			s.lru.Remove(oldest)
		}
		st = &stream{key: k, producer: b.Producer}
		st.elem = s.lru.PushFront(st)
		s.byKey[k] = st
	} else {
		s.lru.MoveToFront(st.elem)
	}
	end := b.FirstSeq + uint64(b.Count)
	if end < b.FirstSeq { // a peer's numbers that wrap: nothing to fill
		end = b.FirstSeq
	}
	switch {
	case b.FirstSeq > st.next:
		gap = b.FirstSeq - st.next
		st.gaps += gap
		s.gaps += gap
		st.holes.add(st.next, b.FirstSeq)
	case b.FirstSeq < st.next:
		st.reorder++
		repaired = st.holes.fill(b.FirstSeq, min(end, st.next))
		st.repaired += repaired
		s.repaired += repaired
	}
	if end > st.next {
		st.next = end
	}
	st.received += uint64(b.Count)
	st.dropped = max(st.dropped, b.Dropped)
	st.lastSeen = now
	return gap, repaired
}

// ProducerStats is what the collector knows of one producer.
type ProducerStats struct {
	Host     string
	PID      uint32
	App      string
	Instance uint64
	// Received counts entries received from it; Gaps entries it numbered
	// that were missing when a later batch arrived; GapsRepaired those of
	// them a late batch brought after all (Gaps − GapsRepaired were lost
	// in transit); Dropped the entries it reports having dropped before
	// sending.
	Received, Gaps, GapsRepaired, Dropped uint64
	LastSeen                              time.Time
}

// producers sums the streams of each producer.
func (s *streams) producers() []ProducerStats {
	by := map[uint64]*ProducerStats{}
	var order []uint64
	for e := s.lru.Front(); e != nil; e = e.Next() {
		st := e.Value.(*stream)
		p := by[st.key.instance]
		if p == nil {
			p = &ProducerStats{Host: st.producer.Host, PID: st.producer.PID, App: st.producer.App, Instance: st.producer.Instance}
			by[st.key.instance] = p
			order = append(order, st.key.instance)
		}
		p.Received += st.received
		p.Gaps += st.gaps
		p.GapsRepaired += st.repaired
		p.Dropped = max(p.Dropped, st.dropped)
		if st.lastSeen.After(p.LastSeen) {
			p.LastSeen = st.lastSeen
		}
	}
	out := make([]ProducerStats, 0, len(order))
	for _, id := range order {
		out = append(out, *by[id])
	}
	return out
}
