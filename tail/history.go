package tail

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// History is a tail that starts in the past: it reads a collector's
// recent history from its --http address and goes on with what arrives
// live, as one sequence the collector numbered, so that nothing is
// printed twice or skipped where the history meets the live stream
// (PROTOCOL.md, "Recent history"). After a lost connection it resumes
// after the last entry it printed.
type History struct {
	// Addr is the collector's --http address (127.0.0.1:9559, or a URL).
	Addr string
	// Token is sent as a bearer token, when set.
	Token string
	// Since asks for the entries that arrived in the last Since; Last for
	// the last Last entries (the filters below applied first). Both:
	// the last Last of those since.
	Since time.Duration
	Last  int
	// Level ("warn"), Apps and Grep (a Go regular expression, sent when
	// it is at most maxServerGrep bytes) filter at the collector, history
	// included, so Last counts what they keep.
	Level string
	Apps  []string
	Grep  string
	// Status, if set, is told of connection state and of entries missed
	// (this tail too slow, or the history no longer held them), a line
	// each, starting with Name.
	Status io.Writer
	Name   string
	// Client makes the requests; nil: one with no overall timeout (the
	// stream is endless), connecting within 5s, following no redirect
	// (the token goes only to Addr).
	Client *http.Client
	// MaxEntry is the largest entry expected, the collector's
	// --max-message-mb: an event larger than twice it is refused.
	// Default 4 MiB.
	MaxEntry int
}

// maxServerGrep is the longest pattern a collector takes; a longer one
// filters only at the tail.
const maxServerGrep = 256

// historyRetry is how long History waits before it reconnects; a
// variable for the tests.
var historyRetry = time.Second

// ErrHistory is wrapped by Run's error when the collector refuses the
// request (no history kept, a bad filter, a token needed).
var ErrHistory = errors.New("history refused")

// Run calls fn with each entry's topic and bytes, oldest first, until ctx
// ends; then it returns nil. A request the collector refuses is an error
// at once; a connection that fails or ends is retried every second.
func (h History) Run(ctx context.Context, fn func(topic string, entry []byte)) error {
	base, err := historyURL(h.Addr)
	if err != nil {
		return err
	}
	client := h.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			Proxy:                 nil, // the collector is reached directly, as its PUB port is
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			ResponseHeaderTimeout: 10 * time.Second,
			DisableKeepAlives:     true,
		}, CheckRedirect: refuseRedirect}
		defer client.CloseIdleConnections()
	}
	var after uint64 // the last position printed; 0: none yet
	connected := false
	for {
		err := h.once(ctx, client, base, &after, &connected, fn)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrHistory) {
			return err
		}
		h.say("history %s: %s; retrying", TerminalSafe(base.Host), errorText(err))
		connected = false
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(historyRetry):
		}
	}
}

// refuseRedirect keeps the token at the address the user gave: a
// redirect, followed, would send it wherever the server pointed.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func historyURL(addr string) (*url.URL, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%w: history address %q: want host:port or http://host:port", ErrEndpoint, addr)
	}
	return u, nil
}

// once reads one connection's stream.
func (h History) once(ctx context.Context, client *http.Client, base *url.URL, after *uint64, connected *bool, fn func(string, []byte)) error {
	q := url.Values{}
	if *after > 0 {
		q.Set("after", strconv.FormatUint(*after, 10))
	} else {
		if h.Since > 0 {
			q.Set("since", h.Since.String())
		}
		if h.Last > 0 {
			q.Set("last", strconv.Itoa(h.Last))
		}
	}
	if h.Level != "" {
		q.Set("level", h.Level)
	}
	for _, a := range h.Apps {
		q.Add("app", a)
	}
	if h.Grep != "" && len(h.Grep) <= maxServerGrep {
		q.Set("grep", h.Grep)
	}
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/stream"
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return err
	}
	if h.Token != "" {
		req.Header.Set("Authorization", "Bearer "+h.Token)
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		// The status line is the server's words too: escaped like its body.
		err := fmt.Errorf("%s: %s", TerminalSafe(res.Status), TerminalSafe(strings.TrimSpace(string(msg))))
		if res.StatusCode >= 300 && res.StatusCode < 400 {
			return fmt.Errorf("%w by %s: %w (redirects are not followed: give the address it names)", ErrHistory, base.Host, err)
		}
		if res.StatusCode >= 400 && res.StatusCode < 500 && res.StatusCode != http.StatusTooManyRequests {
			return fmt.Errorf("%w by %s: %w", ErrHistory, base.Host, err)
		}
		return err
	}
	if !*connected {
		h.say("reading history, then live entries, from %s", TerminalSafe(base.Host))
		*connected = true
	}
	return readEvents(res.Body, maxEvent(h.MaxEntry), func(data []byte) error {
		var ev struct {
			Missed  uint64 `json:"missed"`
			Entries []struct {
				Seq   uint64          `json:"seq"`
				Topic string          `json:"topic"`
				Entry json.RawMessage `json:"entry"`
			} `json:"entries"`
		}
		if err := json.Unmarshal(data, &ev); err != nil {
			return fmt.Errorf("a malformed event: %w", err)
		}
		if ev.Missed > 0 {
			h.say("missed %d entries (this tail fell behind, or the collector no longer held them)", ev.Missed)
		}
		for _, e := range ev.Entries {
			if e.Seq <= *after {
				continue // never twice, even from a confused server
			}
			*after = e.Seq
			fn(e.Topic, e.Entry)
		}
		return nil
	}, after)
}

// An event's data is bounded (History.MaxEntry): the collector sends at
// most chunkBytes of entries in one, or a single larger entry, which it
// took in one message (4 MiB by default, zmqcollect --max-message-mb).
// Twice the entry leaves room for the event's own framing; a server that
// sends more is refused.
const (
	defaultMaxEntry = 4 << 20
	chunkBytes      = 256 << 10
)

func maxEvent(maxEntry int) int {
	if maxEntry <= 0 {
		maxEntry = defaultMaxEntry
	}
	return 2*maxEntry + chunkBytes
}

// readEvents reads Server-Sent Events and calls fn with the data of each
// "entries" event; an event's id moves after on, so a resumed stream
// skips what the filters dropped too.
func readEvents(r io.Reader, limit int, fn func(data []byte) error, after *uint64) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), limit)
	var name string
	var data []byte
	var id uint64
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			if name == "entries" && data != nil {
				if err := fn(data); err != nil {
					return err
				}
				*after = max(*after, id)
			}
			name, data, id = "", nil, 0
		case strings.HasPrefix(string(line[:min(len(line), 7)]), "event: "):
			name = string(line[7:])
		case strings.HasPrefix(string(line[:min(len(line), 6)]), "data: "):
			data = append(data[:0:0], line[6:]...)
		case strings.HasPrefix(string(line[:min(len(line), 4)]), "id: "):
			id, _ = strconv.ParseUint(string(line[4:]), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}

// say writes one line of status; what came from the server is escaped by
// the caller.
func (h History) say(format string, a ...any) {
	newStatus(h.Status, h.Name, 0).say(format, a...)
}
