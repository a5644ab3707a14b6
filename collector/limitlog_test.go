package collector

import (
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/zmqlog/zmqlog/internal/testsupport"
)

// A peer turned away at a connection limit is counted and said in the
// log, so an operator whose fleet outgrew --max-conns learns it there.
func TestConnectionLimitIsSaidInTheLog(t *testing.T) {
	ctx := testsupport.Context(t)
	var log syncBuffer
	c := startCollector(t, Config{NoPub: true, NoFile: true, Limits: Limits{MaxConns: 2},
		Log: slog.New(slog.NewTextHandler(&log, nil))})
	defer c.stop()
	addr := strings.TrimPrefix(c.PullEndpoint(), "tcp://")
	for range 3 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
	}
	testsupport.WaitFor(t, ctx, "the refusal counted and logged", func() bool {
		return c.Stats().ProducerPeers.OverLimit >= 1 && strings.Contains(log.String(), "connection limit reached")
	})
}
