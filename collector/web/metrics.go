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
	descRefused  = prometheus.NewDesc("zmqlog_http_requests_refused_total", "Requests refused, by reason.", []string{"reason"}, nil)
	descSlowDrop = prometheus.NewDesc("zmqlog_http_streams_closed_slow_total", "Streams closed because a write did not complete in time.", nil, nil)
)

// Describe implements prometheus.Collector.
func (s *Server) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStreams, descServed, descSent, descMissed, descRefused, descSlowDrop} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *Server) Collect(ch chan<- prometheus.Metric) {
	st := s.Stats()
	ch <- prometheus.MustNewConstMetric(descStreams, prometheus.GaugeValue, float64(st.Streams))
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descServed, st.StreamsServed)
	counter(descSent, st.Sent)
	counter(descMissed, st.Missed)
	counter(descSlowDrop, st.SlowClosed)
	counter(descRefused, st.Busy, "busy")
	counter(descRefused, st.RateLimited, "rate_limited")
	counter(descRefused, st.Unauthorized, "unauthorized")
	counter(descRefused, st.RefusedHost, "host_or_origin")
}
