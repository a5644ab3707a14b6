package web

import "github.com/prometheus/client_golang/prometheus"

// The server is a prometheus.Collector: zmqcollect registers it beside
// the collector, so what browsers and tails miss is counted where the
// collector's own drops are.
var (
	_ prometheus.Collector = (*Server)(nil)

	descStreams  = prometheus.NewDesc("zmqlog_http_streams", "Streams (pages, tails) open now.", nil, nil)
	descServed   = prometheus.NewDesc("zmqlog_http_streams_served_total", "Streams opened.", nil, nil)
	descSent     = prometheus.NewDesc("zmqlog_http_entries_sent_total", "Entries sent on streams.", nil, nil)
	descMissed   = prometheus.NewDesc("zmqlog_http_entries_missed_total", "Entries streams skipped: too far behind, or evicted from the history before they were read.", nil, nil)
	descRefused  = prometheus.NewDesc("zmqlog_http_requests_refused_total", "Requests (conns_per_host: connections) refused, by reason.", []string{"reason"}, nil)
	descSlowDrop = prometheus.NewDesc("zmqlog_http_streams_closed_slow_total", "Streams closed because a write did not complete in time.", nil, nil)

	descMetricsRefused = prometheus.NewDesc("zmqlog_metrics_requests_refused_total", "Requests to --metrics (conns_per_host: connections) refused, by reason.", []string{"reason"}, nil)

	descHistEntries  = prometheus.NewDesc("zmqlog_history_entries", "Entries held in the collector's recent history.", nil, nil)
	descHistBytes    = prometheus.NewDesc("zmqlog_history_bytes", "Bytes of the history's arena the entries held take.", nil, nil)
	descHistCapacity = prometheus.NewDesc("zmqlog_history_capacity_bytes", "What the history may hold (--history-mb).", nil, nil)
	descHistEvicted  = prometheus.NewDesc("zmqlog_history_evicted_total", "Entries pushed out of the history by newer ones.", nil, nil)
	descHistTooLarge = prometheus.NewDesc("zmqlog_history_too_large_total", "Entries not kept in the history: over an eighth of it (still stored and published).", nil, nil)
)

// Describe implements prometheus.Collector.
func (s *Server) Describe(ch chan<- *prometheus.Desc) {
	if s.metricsOnly {
		ch <- descMetricsRefused
		return
	}
	for _, d := range []*prometheus.Desc{descStreams, descServed, descSent, descMissed, descRefused, descSlowDrop,
		descHistEntries, descHistBytes, descHistCapacity, descHistEvicted, descHistTooLarge} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *Server) Collect(ch chan<- prometheus.Metric) {
	st := s.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if s.metricsOnly {
		counter(descMetricsRefused, st.Unauthorized, "unauthorized")
		counter(descMetricsRefused, st.RefusedHost, "host_or_origin")
		counter(descMetricsRefused, st.BadMethod, "method")
		counter(descMetricsRefused, st.WithBody, "body")
		counter(descMetricsRefused, st.ConnsRefused, "conns_per_host")
		return
	}
	ch <- prometheus.MustNewConstMetric(descStreams, prometheus.GaugeValue, float64(st.Streams))
	counter(descServed, st.StreamsServed)
	counter(descSent, st.Sent)
	counter(descMissed, st.Missed)
	counter(descSlowDrop, st.SlowClosed)
	counter(descRefused, st.Busy, "busy")
	counter(descRefused, st.RateLimited, "rate_limited")
	counter(descRefused, st.Unauthorized, "unauthorized")
	counter(descRefused, st.RefusedHost, "host_or_origin")
	counter(descRefused, st.BadMethod, "method")
	counter(descRefused, st.WithBody, "body")
	counter(descRefused, st.ConnsRefused, "conns_per_host")
	if h := s.c.History(); h != nil {
		hs := h.Stats()
		ch <- prometheus.MustNewConstMetric(descHistEntries, prometheus.GaugeValue, float64(hs.Entries))
		ch <- prometheus.MustNewConstMetric(descHistBytes, prometheus.GaugeValue, float64(hs.Bytes))
		ch <- prometheus.MustNewConstMetric(descHistCapacity, prometheus.GaugeValue, float64(hs.Capacity))
		counter(descHistEvicted, hs.Evicted)
		counter(descHistTooLarge, hs.TooLarge)
	}
}
