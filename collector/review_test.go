package collector

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/zmtpraw"
	"github.com/zmqlog/zmqlog/wire"
)

// The collector takes its Stats every heartbeat (each second by default)
// and on every /metrics scrape. They must not copy what subscribers
// subscribed to: a peer holds up to 64 KiB of topics per subscriber, so
// 256 subscribers from one host would cost 16 MiB of garbage a second,
// 4096 from 16 addresses 256 MiB a second, all while holding each
// subscriber's lock that Publish needs.
func TestStatsDoNotCopyEverySubscription(t *testing.T) {
	c := startCollector(t, Config{Heartbeat: time.Hour})
	// Two topics that differ in their last byte: the trie holds them as a
	// shared prefix and two one-byte leaves.
	const subscribers, topicBytes = 32, 60000
	prefix := strings.Repeat("x", topicBytes/2-1)
	sub := zmtpraw.Handshake("SUB")
	sub = append(sub, zmtpraw.Frame(0, []byte("\x01"+prefix+"a"))...)
	sub = append(sub, zmtpraw.Frame(0, []byte("\x01"+prefix+"b"))...)
	ep := strings.TrimPrefix(c.PubEndpoint(), "tcp://")
	for range subscribers {
		nc, err := net.Dial("tcp", ep)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		if _, err := nc.Write(sub); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for subscribed := 0; subscribed < subscribers; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d subscribers subscribed", subscribed, subscribers)
		}
		time.Sleep(time.Millisecond) // polling the publisher's state: setup only
		subscribed = 0
		for _, s := range c.pub.Stats().Subscribers {
			if len(s.Topics) == 2 {
				subscribed++
			}
		}
	}
	const calls = 10
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range calls {
		if st := c.Stats(); st.Subscribers != subscribers {
			t.Fatalf("Stats counts %d subscribers, want %d", st.Subscribers, subscribers)
		}
	}
	runtime.ReadMemStats(&after)
	perCall := (after.TotalAlloc - before.TotalAlloc) / calls
	if held := uint64(subscribers * topicBytes); perCall > held/16 {
		t.Fatalf("Stats allocates %d bytes a call with %d subscribers holding %d bytes of topics, want at most %d", perCall, subscribers, held, held/16)
	}
}

// A peer can make the collector remember maxStreams producers with the
// longest names, all of '<': one small batch each. The state file is
// then saved at every store flush (each 200ms) while any batch arrives.
// json.Marshal wrote each '<' as "\u003c" (6 bytes) and built the whole
// file in memory: 32 MB a save, 95 MiB allocated and ~190ms of CPU, five
// times a second. A save must cost what the names are, and not hold the
// whole file in memory.
func TestStateSaveOfForgedProducersIsBounded(t *testing.T) {
	s := newStreams()
	name := strings.Repeat("<", wire.MaxName)
	for i := range maxStreams {
		b := wire.Batch{Producer: wire.Producer{Instance: uint64(i + 1), Host: name, App: name}, Count: 1}
		s.observe(&b, time.Now())
	}
	snap := s.snapshot()
	path := filepath.Join(t.TempDir(), "store.state")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := saveState(path, 0o600, snap); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if most := int64(maxStreams * (2*wire.MaxName + 256)); fi.Size() > most {
		t.Errorf("state file of %d streams is %d bytes, want at most %d (names written as they are)", maxStreams, fi.Size(), most)
	}
	// Under the race detector sync.Pool drops the encoder's buffers at
	// random, so only the file size says anything there.
	if alloc, most := after.TotalAlloc-before.TotalAlloc, uint64(4<<20); alloc > most && !raceEnabled {
		t.Errorf("saving the state allocated %d bytes, want at most %d", alloc, most)
	}
	back, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Streams) != maxStreams || back.Streams[0].Host != name || back.Streams[maxStreams-1].App != name {
		t.Fatalf("state read back has %d streams, first %+v", len(back.Streams), back.Streams[0])
	}
}
