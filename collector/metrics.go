package collector

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The collector is a prometheus.Collector: register it and serve
// promhttp.Handler. Metrics are read from Stats at scrape time, so
// ingest pays nothing for them.
var (
	_ prometheus.Collector = (*Collector)(nil)

	descReceived    = desc("entries_received_total", "Log entries received.")
	descStored      = desc("entries_stored_total", "Entries written to the store file.")
	descPublished   = desc("entries_published_total", "Entries queued for at least one subscriber.")
	descWrapped     = desc("entries_wrapped_total", "Entries that were not JSON objects, stored wrapped in one.")
	descDropped     = desc("entries_dropped_total", "Entries not stored, published or forwarded, by reason.", "reason")
	descMessages    = desc("messages_total", "Messages received, by kind (batch, plain) or why they were skipped (malformed, unknown_version).", "kind")
	descBytes       = desc("bytes_received_total", "Bytes of messages received.")
	descForwarded   = desc("messages_forwarded_total", "Messages written to the next tier.")
	descGaps        = desc("gap_entries_total", "Entries producers numbered that were missing when a later batch arrived, all producers; lost in transit: this minus gap_repaired_entries_total.")
	descRepaired    = desc("gap_repaired_entries_total", "Entries counted in gap_entries_total that a late batch brought after all, all producers.")
	descProdGaps    = desc("producer_gap_entries_total", "Entries a producer numbered that were missing when a later batch arrived.", "producer", "instance")
	descProdRepair  = desc("producer_gap_repaired_entries_total", "Entries counted in producer_gap_entries_total that a late batch brought after all.", "producer", "instance")
	descProdDropped = desc("producer_dropped_entries", "Entries a producer reports having dropped before sending.", "producer", "instance")
	descProdRecv    = desc("producer_entries_received_total", "Entries received from a producer.", "producer", "instance")
	descLive        = desc("live_producers", "Producers heard from in the last minute.")
	descOmitted     = desc("producers_not_exposed", "Producers remembered but without series of their own here: not heard from within 10 minutes, or past the 1000 most recent.")
	descSubs        = desc("subscribers", "Subscribers connected.")
	descConns       = desc("connections", "Producer connections open.")
	descPeers       = desc("peers_rejected_total", "Peers dropped, by port (pull, pub) and reason.", "port", "reason")
	descBatch       = desc("batch_entries", "Entries per batch received.")
	descSkipped     = desc("series_skipped_total", "Metric series left out of scrapes because a label could not be exposed (reported in the log).")
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("zmqlog_collector_"+name, help, labels, nil)
}

// Describe implements prometheus.Collector.
// Bounds on the per-producer series a scrape carries.
const (
	producerSeriesAge = 10 * time.Minute
	producerSeriesMax = 1000
)

func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReceived, descStored, descPublished, descWrapped, descDropped, descMessages,
		descBytes, descForwarded, descGaps, descRepaired, descProdGaps, descProdRepair, descProdDropped, descProdRecv, descLive, descOmitted, descSubs, descConns, descPeers, descBatch, descSkipped} {
		ch <- d
	}
	if c.vl != nil {
		c.vl.Describe(ch)
	}
}

// Collect implements prometheus.Collector. A series whose labels cannot
// be exposed (producer names come from peers) is left out, counted in
// zmqlog_collector_series_skipped_total and reported, rather than
// failing the whole scrape: one odd producer must not blind the
// operator to all the others.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.Stats()
	skip := seriesSkipper{ch: ch}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		skip.send(prometheus.NewConstMetric(d, prometheus.CounterValue, float64(v), labels...))
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		skip.send(prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	counter(descReceived, st.Received)
	counter(descStored, st.Stored)
	counter(descPublished, st.Published)
	counter(descWrapped, st.Wrapped)
	counter(descDropped, st.StoreFailed, "store_error")
	counter(descDropped, st.StoreTooLarge, "store_too_large")
	counter(descDropped, st.InvalidUTF8, "invalid_utf8")
	counter(descDropped, st.SubscriberDropped, "subscriber_queue_full")
	counter(descDropped, st.ForwardDropped, "forward_queue_full")
	counter(descDropped, st.ForwardAbandoned, "forward_abandoned")
	counter(descMessages, st.Batches, "batch")
	counter(descMessages, st.Plain, "plain")
	counter(descMessages, st.Malformed, "malformed")
	counter(descMessages, st.UnknownVersion, "unknown_version")
	counter(descBytes, st.Bytes)
	counter(descForwarded, st.Forwarded)
	counter(descGaps, st.Gaps)
	counter(descRepaired, st.GapsRepaired)
	// A producer is host/pid/app; the instance label tells apart two
	// shippers in one process (which would otherwise make the scrape fail
	// on duplicate series) and a restarted process that reused a pid.
	// Each producer costs four series, and every restart makes a new
	// producer: only those heard from within producerSeriesAge are
	// exposed, the most recent producerSeriesMax of them, so a scrape
	// stays bounded however many processes came and went (their entries
	// stay in the totals above).
	now, shown := time.Now(), 0
	for _, p := range st.Producers { // most recently seen first
		if shown == producerSeriesMax || now.Sub(p.LastSeen) > producerSeriesAge {
			break
		}
		shown++
		id, inst := fmt.Sprintf("%s/%d/%s", p.Host, p.PID, p.App), fmt.Sprintf("%016x", p.Instance)
		counter(descProdGaps, p.Gaps, id, inst)
		counter(descProdRepair, p.GapsRepaired, id, inst)
		gauge(descProdDropped, float64(p.Dropped), id, inst)
		counter(descProdRecv, p.Received, id, inst)
	}
	gauge(descOmitted, float64(len(st.Producers)-shown))
	gauge(descLive, float64(st.LiveProducers))
	gauge(descSubs, float64(st.Subscribers))
	gauge(descConns, float64(st.Connections))
	for _, port := range []struct {
		name string
		r    RejectedPeers
	}{{"pull", st.ProducerPeers}, {"pub", st.SubscriberPeers}} {
		counter(descPeers, port.r.HandshakeFailed, port.name, "handshake")
		counter(descPeers, port.r.Oversized, port.name, "oversized")
		counter(descPeers, port.r.Malformed, port.name, "malformed")
		counter(descPeers, port.r.Panics, port.name, "codec_panic")
		counter(descPeers, port.r.OverLimit, port.name, "over_limit")
		counter(descPeers, port.r.OverHostLimit, port.name, "over_host_limit")
		counter(descPeers, port.r.Silent, port.name, "silent")
		counter(descPeers, port.r.OverBudget, port.name, "over_budget")
		counter(descPeers, port.r.OverSubscriptions, port.name, "over_subscriptions")
		counter(descPeers, port.r.MechanismMismatch, port.name, "mechanism_mismatch")
		counter(descPeers, port.r.Unauthorized, port.name, "unauthorized")
		counter(descPeers, port.r.BadCrypto, port.name, "bad_crypto")
		counter(descPeers, port.r.OverHandshakeRate, port.name, "over_handshake_rate")
		counter(descPeers, port.r.CryptoBusy, port.name, "crypto_busy")
	}
	buckets := map[float64]uint64{}
	var cum, total uint64
	for i, b := range BatchSizeBuckets {
		cum += st.BatchSizes[i]
		buckets[float64(b)] = cum
	}
	total = cum + st.BatchSizes[len(BatchSizeBuckets)]
	skip.send(prometheus.NewConstHistogram(descBatch, total, float64(st.BatchEntrySum), buckets))
	if skip.n > 0 {
		c.count.seriesSkipped.Add(skip.n)
		c.report("metrics", fmt.Errorf("left %d series out of a scrape: %w", skip.n, skip.first))
	}
	counter(descSkipped, st.SeriesSkipped+skip.n)
	if c.vl != nil {
		c.vl.Collect(ch)
	}
}

// seriesSkipper sends the metrics that could be made and counts the ones
// that could not, keeping the first error to report.
type seriesSkipper struct {
	ch    chan<- prometheus.Metric
	n     uint64
	first error
}

func (s *seriesSkipper) send(m prometheus.Metric, err error) {
	if err != nil {
		if s.n == 0 {
			s.first = err
		}
		s.n++
		return
	}
	s.ch <- m
}
