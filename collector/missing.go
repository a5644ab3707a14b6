package collector

// maxMissingRanges bounds the holes a stream remembers. A peer controls
// its sequence numbers, so without a bound a forged stream that skips
// ahead by one on every batch would grow the collector's memory; a real
// stream has a hole only while a batch is late (a write timeout, a
// reconnect), so a few suffice.
const maxMissingRanges = 4

// seqRange is the half-open range of sequence numbers [from, to).
type seqRange struct{ from, to uint64 }

// missingRanges remembers the most recent holes in one stream's sequence
// numbers: the entries counted as gaps that a late batch may still fill.
// It keeps at most maxMissingRanges holes, in ascending order; when a new
// one would be one too many, the oldest (lowest) is forgotten, and a late
// batch that would have filled it is then only counted as out of order,
// which over-reports loss and never under-reports it.
type missingRanges struct {
	r []seqRange
}

// add records the hole [from, to), which lies above every hole recorded
// so far (a gap is only ever found above the highest number seen).
func (m *missingRanges) add(from, to uint64) {
	if from >= to {
		return
	}
	if len(m.r) == maxMissingRanges {
		m.r = append(m.r[:0], m.r[1:]...)
	}
	m.r = append(m.r, seqRange{from, to})
}

// fill removes the numbers [from, to) of a late batch from the holes and
// returns how many of them were missing: the entries whose gap the batch
// takes back. Numbers that were never missing (a duplicate) count nothing.
func (m *missingRanges) fill(from, to uint64) uint64 {
	var filled uint64
	out := m.r[:0]
	var split []seqRange // at most one: a batch inside a hole splits it
	for _, h := range m.r {
		lo, hi := max(h.from, from), min(h.to, to)
		if lo >= hi {
			out = append(out, h)
			continue
		}
		filled += hi - lo
		if h.from < lo {
			out = append(out, seqRange{h.from, lo})
		}
		if hi < h.to {
			if h.from < lo {
				split = append(split, seqRange{hi, h.to})
			} else {
				out = append(out, seqRange{hi, h.to})
			}
		}
	}
	m.r = out
	// A split hole's upper part goes back in order; if that makes one too
	// many, the oldest is forgotten, as in add.
	for _, h := range split {
		i := 0
		for i < len(m.r) && m.r[i].from < h.from {
			i++
		}
		m.r = append(m.r, seqRange{})
		copy(m.r[i+1:], m.r[i:])
		m.r[i] = h
		if len(m.r) > maxMissingRanges {
			m.r = append(m.r[:0], m.r[1:]...)
		}
	}
	return filled
}
