package collector

import (
	"bytes"
	"github.com/zmqlog/zmqlog/internal/zsock"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/wire"
)

// scrape serves c's metrics the way zmqcollect --metrics does and returns
// the status and body of one GET /metrics.
func scrape(t *testing.T, c *Collector) (int, string) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

// One batch whose host and app are not UTF-8 (and hold control
// characters) used to make every scrape fail until restart: the names
// became label values. Now the names are repaired at decode, the entries
// are stored, and /metrics answers.
func TestProducerNamesThatAreNotUTF8CannotBreakTheScrape(t *testing.T) {
	ctx := testsupport.Context(t)
	c := startCollector(t, Config{NoPub: true})
	push := dialPush(t, c.PullEndpoint())
	// AppendHeader writes clean names; a hostile peer writes any bytes.
	// Build with placeholders of the same length, then put the bytes in.
	batch := wire.AppendHeader(nil, wire.Producer{Instance: 5, PID: 6, Host: "HOSTHOST", App: "APPAPP"})
	batch = bytes.Replace(batch, []byte("HOSTHOST"), []byte("web\xff\x1b[2J"), 1)
	batch = bytes.Replace(batch, []byte("APPAPP"), []byte("caf\xe9\n\xc3"), 1)
	batch = wire.AppendEntry(batch, "INFO", []byte(`{"msg":"one"}`))
	batch = wire.AppendEntry(batch, "ERROR", []byte(`{"msg":"two"}`))
	wire.SetCount(batch, 2)
	if err := push.Send(ctx, zsock.Plain{batch}); err != nil {
		t.Fatal(err)
	}
	testsupport.WaitFor(t, ctx, "both entries stored", func() bool { return c.Stats().Stored == 2 })

	code, body := scrape(t, c.Collector)
	if code != 200 {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	want := "zmqlog_collector_producer_entries_received_total" +
		`{instance="0000000000000005",producer="` + "web\uFFFD\uFFFD[2J/6/caf\uFFFD\uFFFD\uFFFD" + `"} 2`
	if !strings.Contains(body, want) {
		t.Fatalf("no %s in\n%s", want, body)
	}
	if p := c.Stats().Producers[0]; !utf8.ValidString(p.Host+p.App) || p.Host != "web\uFFFD\uFFFD[2J" {
		t.Fatalf("producer %+v", p)
	}
}

// A series whose label cannot be exposed (here a name put in past the
// decoder, as a future code path might) is left out and counted; the
// scrape and every other series go on.
func TestSeriesThatCannotBeExposedAreSkippedNotFatal(t *testing.T) {
	var log syncBuffer
	c := startCollector(t, Config{NoPub: true, NoFile: true, Log: slog.New(slog.NewTextHandler(&log, nil))})
	c.mu.Lock()
	for i, host := range []string{"good", "bad\xff"} {
		b := wire.Batch{Producer: wire.Producer{Instance: uint64(i + 1), Host: host, App: "a"}, Count: 1}
		c.streams.observe(&b, time.Now())
	}
	c.mu.Unlock()

	code, body := scrape(t, c.Collector)
	if code != 200 {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	for _, want := range []string{
		`zmqlog_collector_producer_entries_received_total{instance="0000000000000001",producer="good/0/a"} 1`,
		"zmqlog_collector_series_skipped_total 4", // gaps, repaired, dropped, received of the bad one
		"zmqlog_collector_entries_received_total 0",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %s in\n%s", want, body)
		}
	}
	if st := c.Stats(); st.SeriesSkipped != 4 {
		t.Errorf("Stats.SeriesSkipped %d, want 4", st.SeriesSkipped)
	}
	if !strings.Contains(log.String(), "left 4 series out of a scrape") {
		t.Errorf("not reported: %q", log.String())
	}
}

// Every producer restart is a new producer, with series of its own: a
// scrape carries only those heard from lately, at most
// producerSeriesMax of them, so /metrics stays bounded however many
// processes came and went; the rest are counted, and their entries stay
// in the totals.
func TestProducerSeriesAreBounded(t *testing.T) {
	c := startCollector(t, Config{NoPub: true, NoFile: true})
	defer c.stop()
	now := time.Now()
	observe := func(instance uint64, at time.Time) {
		b, err := wire.Decode(producerBatch(instance, 0, 1))
		if err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		c.streams.observe(&b, at)
		c.mu.Unlock()
	}
	const old = 50
	for i := range old { // restarted long ago, never heard from since
		observe(uint64(1+i), now.Add(-time.Hour))
	}
	for i := range producerSeriesMax + 20 {
		observe(uint64(1000+i), now)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Collector)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	var omitted float64
	for _, mf := range mfs {
		series[mf.GetName()] = len(mf.GetMetric())
		if mf.GetName() == "zmqlog_collector_producers_not_exposed" {
			omitted = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if n := series["zmqlog_collector_producer_entries_received_total"]; n != producerSeriesMax {
		t.Fatalf("%d producer series in a scrape, want the %d most recent", n, producerSeriesMax)
	}
	if omitted != old+20 {
		t.Fatalf("producers_not_exposed %v, want %d", omitted, old+20)
	}
}
