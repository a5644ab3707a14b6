package vlsink

import "sync"

// memBuffer holds the lines offered to the sink when there is no store
// file to follow: chunks of whole lines, each at most a batch (unless one
// line is longer), at most limit bytes in all. A line that would pass
// the limit is dropped and counted: the buffer is the release valve, so
// that the collector never waits for VictoriaLogs.
type memBuffer struct {
	mu       sync.Mutex
	chunks   []chunk
	bytes    int
	limit    int
	maxChunk int
	dropped  uint64
}

type chunk struct {
	data    []byte
	entries int
}

// add appends stamp and line (stamp replacing line's opening brace; see
// AppendLine) and a newline; false: the buffer is full and the line was
// dropped.
func (m *memBuffer) add(stamp, line []byte) bool {
	n := len(stamp) + len(line) + 1
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bytes+n > m.limit {
		m.dropped++
		return false
	}
	if k := len(m.chunks); k == 0 || len(m.chunks[k-1].data)+n > m.maxChunk {
		m.chunks = append(m.chunks, chunk{data: make([]byte, 0, max(n, min(m.maxChunk, 64<<10)))})
	}
	c := &m.chunks[len(m.chunks)-1]
	c.data = append(AppendLine(c.data, stamp, line), '\n')
	c.entries++
	m.bytes += n
	return true
}

// take removes and returns the oldest chunk; full says whether it is a
// whole batch (more will not fit it), so the caller can linger for more.
func (m *memBuffer) take(force bool) (data []byte, entries int, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.chunks) == 0 {
		return nil, 0, false
	}
	c := m.chunks[0]
	if len(m.chunks) == 1 && !force && len(c.data) < m.maxChunk/2 {
		return nil, 0, false
	}
	m.chunks[0] = chunk{}
	m.chunks = m.chunks[1:]
	m.bytes -= len(c.data)
	return c.data, c.entries, true
}

func (m *memBuffer) counts() (entries int, dropped uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.chunks {
		entries += c.entries
	}
	return entries, m.dropped
}
