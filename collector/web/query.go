package web

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/zmqlog/zmqlog/collector"
	"github.com/zmqlog/zmqlog/topic"
)

// Bounds on what a stream request may ask for. Go's regexp runs in time
// linear in the text, so a pattern's cost per entry is bounded by its
// length and the entry's.
const (
	maxQueryBytes   = 4096
	maxApps         = 16
	maxGrepBytes    = 256
	maxLast         = 1_000_000
	maxSinceSeconds = 7 * 24 * 3600
)

// streamQuery is what a client asked of /api/stream.
type streamQuery struct {
	filter collector.HistoryFilter
	grep   *regexp.Regexp
	// Where to start: after a position (resuming), the last entries, the
	// entries since a time; none of them: only what arrives from now on.
	after    uint64
	hasAfter bool
	last     int
	since    time.Duration
	stats    bool // send the page's stats every second
}

// queryError is a request the server refuses: 400, with a message that
// names the parameter.
type queryError struct{ msg string }

func (e *queryError) Error() string { return e.msg }

func badQuery(format string, a ...any) error { return &queryError{fmt.Sprintf(format, a...)} }

func parseStreamQuery(r *http.Request) (streamQuery, error) {
	var q streamQuery
	if len(r.URL.RawQuery) > maxQueryBytes {
		return q, badQuery("query of %d bytes: at most %d", len(r.URL.RawQuery), maxQueryBytes)
	}
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return q, badQuery("query: %v", err)
	}
	if s := v.Get("level"); s != "" {
		if q.filter.MinSeverity, err = topic.Parse(s); err != nil {
			return q, badQuery("level: %v", err)
		}
	}
	if apps := v["app"]; len(apps) > 0 {
		if len(apps) > maxApps {
			return q, badQuery("app: %d given, at most %d", len(apps), maxApps)
		}
		for _, a := range apps {
			if len(a) > topic.MaxName {
				return q, badQuery("app: a name of %d bytes, at most %d", len(a), topic.MaxName)
			}
		}
		q.filter.Apps = apps
	}
	if s := v.Get("grep"); s != "" {
		if len(s) > maxGrepBytes {
			return q, badQuery("grep: a pattern of %d bytes, at most %d", len(s), maxGrepBytes)
		}
		if q.grep, err = regexp.Compile(s); err != nil {
			return q, badQuery("grep: %v", err)
		}
	}
	after := v.Get("after")
	if after == "" {
		after = r.Header.Get("Last-Event-ID") // an EventSource resuming
	}
	if after != "" {
		if q.after, err = strconv.ParseUint(after, 10, 64); err != nil {
			return q, badQuery("after %q: not a position", after)
		}
		q.hasAfter = true
	}
	if s := v.Get("last"); s != "" {
		if q.last, err = strconv.Atoi(s); err != nil || q.last < 0 || q.last > maxLast {
			return q, badQuery("last %q: want a count from 0 to %d", s, maxLast)
		}
	}
	if s := v.Get("since"); s != "" {
		if q.since, err = time.ParseDuration(s); err != nil || q.since <= 0 || q.since > maxSinceSeconds*time.Second {
			return q, badQuery("since %q: want a duration such as 10m, at most a week", s)
		}
	}
	q.stats = v.Get("stats") == "1"
	return q, nil
}

// start is the position the stream begins at.
func (q *streamQuery) start(h *collector.History, now time.Time) uint64 {
	switch {
	case q.hasAfter:
		return min(q.after+1, h.Next())
	case q.last > 0 || q.since > 0:
		f := q.filter
		if q.since > 0 {
			f.Since = now.Add(-q.since)
		}
		if q.grep != nil && q.last > 0 {
			return q.lastMatching(h, &f)
		}
		return h.Start(&f, q.last)
	}
	return h.Next()
}

// lastMatching is where the last q.last entries that f and the pattern
// keep begin. The pattern runs outside the ring's lock, on copies read a
// chunk at a time from the newest back, so ingest never waits for it.
func (q *streamQuery) lastMatching(h *collector.History, f *collector.HistoryFilter) uint64 {
	lo, hi := h.Start(f, 0), h.Next()
	need := q.last
	var r collector.HistoryRead
	var matches []uint64
	for hi > lo {
		from := max(lo, hi-min(hi, chunkScan))
		matches = matches[:0]
		for p := from; p < hi; {
			h.Read(p, f, int(hi-p), chunkBytes, &r)
			for _, e := range r.Entries {
				if e.Seq < hi && q.grep.Match(e.Line) {
					matches = append(matches, e.Seq)
				}
			}
			if r.Next == p {
				break
			}
			p = r.Next
		}
		if len(matches) >= need {
			return matches[len(matches)-need]
		}
		need -= len(matches)
		hi = from
	}
	return lo
}
