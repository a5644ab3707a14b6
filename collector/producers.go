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
	gaps     uint64 // entries missing between batches: lost in transit
	dropped  uint64 // the producer's own count of entries it dropped
	reorder  uint64 // batches that arrived behind the expected number
	lastSeen time.Time
	elem     *list.Element
}

// streams tracks sequence numbers per producer stream. It is used by the
// ingest goroutine only, and read under the collector's stats lock.
type streams struct {
	byKey map[streamKey]*stream
	lru   *list.List // front: most recently seen
	gaps  uint64     // all gaps counted, including forgotten streams'
}

func newStreams() *streams {
	return &streams{byKey: map[streamKey]*stream{}, lru: list.New()}
}

// observe records a batch and returns how many entries it shows missing.
func (s *streams) observe(b *wire.Batch, now time.Time) uint64 {
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
	var gap uint64
	switch {
	case b.FirstSeq > st.next:
		gap = b.FirstSeq - st.next
		st.gaps += gap
		s.gaps += gap
	case b.FirstSeq < st.next:
		st.reorder++
	}
	if end := b.FirstSeq + uint64(b.Count); end > st.next {
		st.next = end
	}
	st.received += uint64(b.Count)
	st.dropped = max(st.dropped, b.Dropped)
	st.lastSeen = now
	return gap
}

// ProducerStats is what the collector knows of one producer.
type ProducerStats struct {
	Host     string
	PID      uint32
	App      string
	Instance uint64
	// Received counts entries received from it; Gaps entries it numbered
	// that never arrived (lost in transit); Dropped the entries it reports
	// having dropped before sending.
	Received, Gaps, Dropped uint64
	LastSeen                time.Time
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
