package vlsink

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats is a snapshot of what a Sink has done.
type Stats struct {
	// Sent counts entries VictoriaLogs acknowledged, SentBytes their
	// size; WireBytes counts request bodies as sent (after gzip, and
	// including retries); Retries the requests that failed and were tried
	// again.
	Sent, SentBytes, WireBytes, Retries uint64
	// Dropped entries, by reason: rejected (VictoriaLogs refused the
	// request for good: 4xx), buffer_full (no store file and VictoriaLogs
	// not keeping up), shutdown (no store file, still held at Close),
	// partial_line and too_long (lines in the store that cannot be sent),
	// rotated_out (removed by the rotation before they were sent).
	Dropped map[string]uint64
	// LostFiles counts store files rotated out while the collector was
	// down, before the sink read them, and LostBytes their unsent bytes
	// where known (their entries cannot be counted: the file is gone).
	LostFiles, LostBytes uint64
	// LagEntries is how many stored entries VictoriaLogs has not yet
	// acknowledged; LagSeconds how long since it last had every one.
	LagEntries int64
	LagSeconds float64
	// CursorErrors counts failed saves of the cursor file.
	CursorErrors uint64
	Nodes        []NodeStats
}

// NodeStats is one VictoriaLogs URL: whether its last request succeeded,
// and its requests and failures.
type NodeStats struct {
	URL                string
	Up                 bool
	Requests, Failures uint64
}

// Stats returns the sink's counters now.
func (s *Sink) Stats() Stats {
	st := Stats{
		Sent: s.count.sent.Load(), SentBytes: s.count.sentBytes.Load(), WireBytes: s.client.wire.Load(), Retries: s.count.retries.Load(),
		Dropped: map[string]uint64{
			"rejected": s.count.rejected.Load(), "shutdown": s.count.shutdown.Load(),
			"partial_line": s.count.partialLine.Load(), "too_long": s.count.tooLong.Load(),
			"rotated_out": s.count.rotatedOut.Load(),
		},
		LostFiles: s.count.lostFiles.Load(), LostBytes: s.count.lostLen.Load(), CursorErrors: s.count.cursorErrors.Load(),
	}
	if s.mem != nil {
		n, dropped := s.mem.counts()
		st.Dropped["buffer_full"] = dropped
		st.LagEntries = int64(n) + s.count.inFlight.Load()
	} else {
		var stored uint64
		if s.cfg.StoredEntries != nil {
			stored = s.cfg.StoredEntries()
		}
		st.LagEntries = max(0, s.baseline.Load()+int64(stored)-int64(s.track.ackedEntries()+s.skipped()))
	}
	if st.LagEntries > 0 {
		st.LagSeconds = time.Since(time.Unix(0, s.lastCaughtUp.Load())).Seconds()
	}
	for _, n := range s.client.nodes {
		st.Nodes = append(st.Nodes, NodeStats{URL: n.base, Up: n.up.Load(), Requests: n.requests.Load(), Failures: n.failures.Load()})
	}
	return st
}

var (
	descSent      = desc("entries_sent_total", "Entries VictoriaLogs acknowledged.")
	descSentBytes = desc("bytes_sent_total", "Bytes of entries VictoriaLogs acknowledged (before compression).")
	descRetries   = desc("retries_total", "Requests to VictoriaLogs that failed and were tried again.")
	descDropped   = desc("entries_dropped_total", "Entries that will never reach VictoriaLogs, by reason.", "reason")
	descLostFiles = desc("files_lost_total", "Store files rotated out before they were sent.")
	descLostBytes = desc("bytes_lost_total", "Bytes of store files rotated out before they were sent.")
	descLag       = desc("lag_entries", "Stored entries VictoriaLogs has not acknowledged yet.")
	descLagSecs   = desc("lag_seconds", "Seconds since VictoriaLogs last had every stored entry; 0 when it has.")
	descUp        = desc("up", "1 if the last request to this VictoriaLogs URL succeeded.", "url")
	descRequests  = desc("requests_total", "Requests to a VictoriaLogs URL.", "url")
	descFailures  = desc("request_failures_total", "Failed requests to a VictoriaLogs URL.", "url")
	descCursorErr = desc("cursor_save_errors_total", "Failed saves of the cursor file.")
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("zmqlog_collector_victorialogs_"+name, help, labels, nil)
}

// Describe implements prometheus.Collector.
func (s *Sink) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSent, descSentBytes, descRetries, descDropped, descLostFiles, descLostBytes, descLag, descLagSecs, descUp, descRequests, descFailures, descCursorErr} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *Sink) Collect(ch chan<- prometheus.Metric) {
	st := s.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(descSent, st.Sent)
	counter(descSentBytes, st.SentBytes)
	counter(descRetries, st.Retries)
	for _, r := range []string{"rejected", "buffer_full", "shutdown", "partial_line", "too_long", "rotated_out"} {
		counter(descDropped, st.Dropped[r], r)
	}
	counter(descLostFiles, st.LostFiles)
	counter(descLostBytes, st.LostBytes)
	gauge(descLag, float64(st.LagEntries))
	gauge(descLagSecs, st.LagSeconds)
	counter(descCursorErr, st.CursorErrors)
	for _, n := range st.Nodes {
		up := 0.0
		if n.Up {
			up = 1
		}
		gauge(descUp, up, n.URL)
		counter(descRequests, n.Requests, n.URL)
		counter(descFailures, n.Failures, n.URL)
	}
}
