package web

import (
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/zmqlog/zmqlog/topic"

	"github.com/zmqlog/zmqlog/collector"
)

// maxProducersShown bounds the producers table: the most recently seen
// first (a collector remembers up to 10000).
const maxProducersShown = 200

// chartSeconds is how much of the past the chart shows.
const chartSeconds = 300

// sharedStats is the once-a-second JSON every page gets: made once for all
// of them, at most once a second.
type sharedStats struct {
	c    Source
	mu   sync.Mutex
	at   time.Time
	json []byte
}

type producerJSON struct {
	App      string `json:"app"`
	Host     string `json:"host"`
	PID      uint32 `json:"pid"`
	Received uint64 `json:"received"`
	Lost     uint64 `json:"lost"`
	Dropped  uint64 `json:"dropped"`
	LastSeen int64  `json:"last_seen"` // unix milliseconds
}

type statsJSON struct {
	Now int64 `json:"now"`
	// Levels names the columns of Rates.
	Levels []string `json:"levels"`
	// Rates: [unix second, count per level…] for each of the last
	// chartSeconds complete seconds.
	Rates     [][]int64      `json:"rates"`
	Producers []producerJSON `json:"producers"`
	Collector map[string]any `json:"collector"`
	HTTP      Stats          `json:"http"`
}

func (ss *sharedStats) get(s *Server) []byte {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := time.Now()
	if ss.json != nil && now.Sub(ss.at) < 900*time.Millisecond {
		return ss.json
	}
	st := ss.c.Stats()
	out := statsJSON{Now: now.UnixMilli(), HTTP: s.Stats()}
	for sev := topic.Unknown; sev <= topic.Fatal; sev++ {
		out.Levels = append(out.Levels, sev.String())
	}
	if h := ss.c.History(); h != nil {
		for _, r := range h.Rates(now.Add(-time.Second), chartSeconds) { // complete seconds only
			row := make([]int64, 0, len(r.Counts)+1)
			row = append(row, r.Unix)
			for _, n := range r.Counts {
				row = append(row, int64(n))
			}
			out.Rates = append(out.Rates, row)
		}
		hs := h.Stats()
		out.Collector = map[string]any{"history_entries": hs.Entries, "history_bytes": hs.Bytes, "history_capacity": hs.Capacity,
			"history_oldest": hs.Oldest.UnixMilli(), "history_evicted": hs.Evicted}
	} else {
		out.Collector = map[string]any{}
	}
	ps := slices.Clone(st.Producers)
	slices.SortFunc(ps, func(a, b collector.ProducerStats) int { return b.LastSeen.Compare(a.LastSeen) })
	for _, p := range ps[:min(len(ps), maxProducersShown)] {
		out.Producers = append(out.Producers, producerJSON{App: p.App, Host: p.Host, PID: p.PID, Received: p.Received,
			Lost: p.Gaps - min(p.GapsRepaired, p.Gaps), Dropped: p.Dropped, LastSeen: p.LastSeen.UnixMilli()})
	}
	for k, v := range map[string]any{"received": st.Received, "stored": st.Stored, "published": st.Published,
		"subscribers": st.Subscribers, "subscriber_dropped": st.SubscriberDropped, "gaps": st.Gaps - min(st.GapsRepaired, st.Gaps),
		"producers": len(st.Producers), "live_producers": st.LiveProducers, "uptime_s": int64(st.Uptime.Seconds())} {
		out.Collector[k] = v
	}
	ss.json, _ = json.Marshal(out) // plain types: cannot fail
	ss.at = now
	return ss.json
}
