package collector

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/zmqlog/zmqlog/internal/jsonstr"
	"github.com/zmqlog/zmqlog/wire"
)

// The state file keeps, across restarts, where each producer stream was:
// without it a restarted collector would count every entry a producer sent
// before the restart as lost. It is written after each store flush, from a
// snapshot taken while the flushed entries were the only ones received, so
// it never claims an entry the store does not hold. A collector killed
// between a flush and the next save loses its last few positions and, on
// restart, reports the entries after them as gaps: it can over-report loss
// by at most one flush interval's entries, and never under-report it.

type savedStream struct {
	Instance uint64    `json:"instance"`
	Stream   uint16    `json:"stream"`
	Host     string    `json:"host"`
	PID      uint32    `json:"pid"`
	App      string    `json:"app"`
	Next     uint64    `json:"next"`
	Received uint64    `json:"received"`
	Gaps     uint64    `json:"gaps"`
	Repaired uint64    `json:"repaired,omitempty"`
	Dropped  uint64    `json:"dropped"`
	LastSeen time.Time `json:"last_seen"`
}

type savedState struct {
	Version  int           `json:"version"`
	Gaps     uint64        `json:"gaps"` // all gaps, including forgotten streams'
	Repaired uint64        `json:"repaired,omitempty"`
	Streams  []savedStream `json:"streams"`
}

// snapshot returns the streams' positions; the caller holds c.mu.
func (s *streams) snapshot() savedState {
	st := savedState{Version: 1, Gaps: s.gaps, Repaired: s.repaired}
	for e := s.lru.Back(); e != nil; e = e.Prev() { // oldest first, so restore keeps the order
		x := e.Value.(*stream)
		st.Streams = append(st.Streams, savedStream{
			Instance: x.key.instance, Stream: x.key.stream, Host: x.producer.Host, PID: x.producer.PID, App: x.producer.App,
			Next: x.next, Received: x.received, Gaps: x.gaps, Repaired: x.repaired, Dropped: x.dropped, LastSeen: x.lastSeen,
		})
	}
	return st
}

func (s *streams) restore(st savedState) {
	s.gaps, s.repaired = st.Gaps, st.Repaired
	for _, x := range st.Streams {
		k := streamKey{x.Instance, x.Stream}
		if _, dup := s.byKey[k]; dup || len(s.byKey) >= maxStreams {
			continue
		}
		v := &stream{key: k, next: x.Next, received: x.Received, gaps: x.Gaps, repaired: x.Repaired, dropped: x.Dropped, lastSeen: x.LastSeen}
		// Clean: a state file written by an older version may hold names
		// as a peer sent them.
		v.producer = wire.Producer{Instance: x.Instance, Host: x.Host, PID: x.PID, App: x.App}.Clean()
		v.elem = s.lru.PushFront(v)
		s.byKey[k] = v
	}
}

func loadState(path string) (savedState, error) {
	var st savedState
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return savedState{}, fmt.Errorf("state file %s: %w", path, err)
	}
	if st.Version != 1 {
		return savedState{}, fmt.Errorf("state file %s: unknown version %d", path, st.Version)
	}
	return st, nil
}

// saveState writes the state next to its final place, with the given
// permission, and renames it, so a crash mid-write leaves the previous
// state whole.
func saveState(path string, mode os.FileMode, st savedState) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := writeState(tmp, st); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// writeState writes st as the JSON object loadState reads, one stream at
// a time through a small buffer: the names in it come from peers (up to
// maxStreams producers, each with two MaxName-byte names), so the file is
// never built whole in memory, and names are written as they are, not
// with '<', '>' and '&' as 6-byte HTML escapes.
//
// Each stream is appended by hand rather than by encoding/json: the state
// is saved at every store flush while batches arrive, and with a thousand
// producers reflection cost more than anything else the collector does
// per flush.
func writeState(w io.Writer, st savedState) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, `{"version":%d,"gaps":%d,"repaired":%d,"streams":[`, st.Version, st.Gaps, st.Repaired)
	line := make([]byte, 0, 512)
	for i := range st.Streams {
		line = line[:0]
		if i > 0 {
			line = append(line, ',')
		}
		line = appendSavedStream(line, &st.Streams[i])
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}

// appendSavedStream appends x as the JSON object savedStream's tags
// describe, which loadState reads back as it would encoding/json's.
func appendSavedStream(b []byte, x *savedStream) []byte {
	b = append(b, `{"instance":`...)
	b = strconv.AppendUint(b, x.Instance, 10)
	b = append(b, `,"stream":`...)
	b = strconv.AppendUint(b, uint64(x.Stream), 10)
	b = append(b, `,"host":`...)
	b = jsonstr.Append(b, x.Host)
	b = append(b, `,"pid":`...)
	b = strconv.AppendUint(b, uint64(x.PID), 10)
	b = append(b, `,"app":`...)
	b = jsonstr.Append(b, x.App)
	b = append(b, `,"next":`...)
	b = strconv.AppendUint(b, x.Next, 10)
	b = append(b, `,"received":`...)
	b = strconv.AppendUint(b, x.Received, 10)
	b = append(b, `,"gaps":`...)
	b = strconv.AppendUint(b, x.Gaps, 10)
	if x.Repaired != 0 {
		b = append(b, `,"repaired":`...)
		b = strconv.AppendUint(b, x.Repaired, 10)
	}
	b = append(b, `,"dropped":`...)
	b = strconv.AppendUint(b, x.Dropped, 10)
	b = append(b, `,"last_seen":`...)
	if y := x.LastSeen.Year(); y >= 0 && y <= 9999 { // as time.Time's MarshalJSON, which fails otherwise
		b = append(b, '"')
		b = x.LastSeen.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	} else { // not a time this collector saw
		b = append(b, `"0001-01-01T00:00:00Z"`...)
	}
	return append(b, '}')
}
