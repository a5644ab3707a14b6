package collector

import (
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/zmtpraw"
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
