package collector_test

import (
	"fmt"
	"time"

	"github.com/zmqlog/zmqlog/collector"
	"github.com/zmqlog/zmqlog/topic"
)

// A late joiner asks where to start (here: the last two errors), then
// reads from that position on; the position it ends at is where the next
// read, of entries that arrive later, begins. Collector.History is this
// ring, filled with every entry the collector publishes.
func ExampleHistory() {
	h := collector.NewHistory(1 << 20)
	at := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	h.Append([][]byte{
		[]byte("INFO.shop"), []byte(`{"msg":"order placed"}`),
		[]byte("ERROR.shop"), []byte(`{"msg":"card declined"}`),
		[]byte("ERROR.billing"), []byte(`{"msg":"invoice failed"}`),
		[]byte("WARN.shop"), []byte(`{"msg":"slow"}`),
		[]byte("ERROR.shop"), []byte(`{"msg":"card declined again"}`),
	}, at)

	f := &collector.HistoryFilter{MinSeverity: topic.Error}
	var r collector.HistoryRead
	h.Read(h.Start(f, 2), f, 1000, 1<<20, &r)
	for _, e := range r.Entries {
		fmt.Println(e.Seq, string(e.Topic), string(e.Line))
	}

	h.Append([][]byte{[]byte("ERROR.shop"), []byte(`{"msg":"later"}`)}, at.Add(time.Second))
	h.Read(r.Next, f, 1000, 1<<20, &r)
	for _, e := range r.Entries {
		fmt.Println(e.Seq, string(e.Topic), string(e.Line))
	}
	// Output:
	// 3 ERROR.billing {"msg":"invoice failed"}
	// 5 ERROR.shop {"msg":"card declined again"}
	// 6 ERROR.shop {"msg":"later"}
}
