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

// Bounds on what a stream request may ask for (grep's: grep.go).
const (
	maxQueryBytes   = 4096
	maxApps         = 16
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
		if q.grep, err = compileGrep(s); err != nil {
			return q, err
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

// start is the position the stream begins at; ok is false when stop
// said the stream is over before it was found.
func (q *streamQuery) start(h *collector.History, now time.Time, stop func() bool) (at uint64, ok bool) {
	switch {
	case q.hasAfter:
		// Clamped before adding: after=MaxUint64 must not wrap to the
		// ring's start.
		if next := h.Next(); q.after >= next {
			return next, true
		}
		return q.after + 1, true
	case q.last > 0 || q.since > 0:
		f := q.filter
		if q.since > 0 {
			f.Since = now.Add(-q.since)
		}
		if q.grep != nil && q.last > 0 {
			return q.lastMatching(h, &f, stop)
		}
		return h.Start(&f, q.last), true
	}
	return h.Next(), true
}

// lastMatching is where the last q.last entries that f and the pattern
// keep begin. The pattern runs outside the ring's lock, on copies read a
// chunk at a time from the newest back, so ingest never waits for it;
// stop is asked between chunks, so a client that left stops the scan.
func (q *streamQuery) lastMatching(h *collector.History, f *collector.HistoryFilter, stop func() bool) (uint64, bool) {
	lo, hi := h.Start(f, 0), h.Next()
	need := q.last
	var r collector.HistoryRead
	var matches []uint64
	for hi > lo {
		from := max(lo, hi-min(hi, chunkScan))
		matches = matches[:0]
		for p := from; p < hi; {
			h.Read(p, f, min(int(hi-p), grepChunk), chunkBytes, &r)
			for _, e := range r.Entries {
				if stop() {
					return 0, false
				}
				if e.Seq < hi && q.grep.Match(e.Line) {
					matches = append(matches, e.Seq)
				}
			}
			r.Trim(2 * chunkBytes)
			if r.Next == p {
				break
			}
			p = r.Next
		}
		if len(matches) >= need {
			return matches[len(matches)-need], true
		}
		need -= len(matches)
		hi = from
	}
	return lo, true
}
