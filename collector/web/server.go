// Package web is zmqcollect's --http face: one page that shows the live
// stream with its recent history, filters, a chart of entries per second
// by level and the producers; the stream it reads (/api/stream, also what
// `zmqtail --since` reads); and /metrics. ListenMetrics serves /metrics
// alone under the same rules (zmqcollect's --metrics).
//
//	srv, err := web.Listen(c, web.Options{Addr: "127.0.0.1:9559"})
//	go srv.Serve()
//	defer srv.Close()
//
// Everything the page needs is embedded in the binary: it works with no
// internet. A browser is a reader of the collector's History at its own
// position, so however slow it is, ingest never waits for it; past
// Options.MaxLag entries behind, it skips ahead, is told how many it
// missed, and they are counted.
//
// Safe by default: an address other hosts reach needs Options.Token
// (ErrTokenRequired), which the API and /metrics take as a bearer token,
// compared in constant time; the page reads it from the URL's fragment,
// which the browser never sends (SECURITY.md). On a loopback address,
// requests naming another host (DNS rebinding) or from another origin are
// refused. What producers sent is shown as text, never as markup, under a
// Content-Security-Policy that runs no script but the page's own.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqlog/zmqlog/collector"
)

//go:embed static
var static embed.FS

// Options configures the server. A zero field means its default.
type Options struct {
	// Addr is where to listen, host:port ("127.0.0.1:9559"; port 0 picks
	// one).
	Addr string
	// Token, if set, is required as "Authorization: Bearer TOKEN" by the
	// API and /metrics. It must be set for an address other hosts reach.
	Token string
	// Metrics, if set, is served at /metrics.
	Metrics http.Handler
	// MaxStreams bounds the streams open at once (browsers, tails);
	// past it a request gets 503 and is counted. Default 16.
	MaxStreams int
	// MaxConns bounds the connections held open. Default DefaultMaxConns.
	MaxConns int
	// MaxConnsPerHost bounds the connections held open from one IP;
	// past it a new one is closed at once and counted. Default a
	// quarter of MaxConns, at least 8.
	MaxConnsPerHost int
	// MaxLag is how many entries a live stream may fall behind the
	// newest before it skips ahead (counted as missed). Default 20000.
	MaxLag int
	// RequestsPerSecond bounds API requests, all clients together
	// (bursts of twice as many). Default 20.
	RequestsPerSecond int
	// Log receives the server's own problems. Default: discarded.
	Log *slog.Logger
}

func (o *Options) fill() {
	if o.MaxStreams <= 0 {
		o.MaxStreams = 16
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.MaxConnsPerHost <= 0 {
		o.MaxConnsPerHost = max(o.MaxConns/4, 8)
	}
	if o.MaxLag <= 0 {
		o.MaxLag = 20000
	}
	if o.RequestsPerSecond <= 0 {
		o.RequestsPerSecond = 20
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// DefaultMaxConns is how many connections a server holds open unless
// Options.MaxConns says otherwise: what a program that starts one must
// keep file descriptors for.
const DefaultMaxConns = 64

// Source is what the server shows: a *collector.Collector.
type Source interface {
	// History is nil when no history is kept.
	History() *collector.History
	Stats() collector.Stats
}

// Server serves the page, the stream and /metrics (or, made by
// ListenMetrics, /metrics alone).
type Server struct {
	c           Source
	opts        Options
	metricsOnly bool
	token       *token // nil: none required
	hosts       hostCheck
	rate        *tokenBucket  // nil: no rate limit
	streams     chan struct{} // a slot per open stream
	ln          *limitListener
	srv         *http.Server
	stop        chan struct{}
	stopOnce    sync.Once
	handlers    handlerGate // the requests being handled, streams included: Close waits for them
	shared      sharedStats
	count       counters
}

type counters struct {
	streamsServed, busy, rateLimited, unauthorized, refusedHost, badMethod, withBody atomic.Uint64
	sent, missed, slowClosed, connsRefused                                           atomic.Uint64
}

// unauthIdle is how long a connection that has not shown the token may
// wait for a request (when a token is set): long enough to load the
// page's files, short against a client holding slots.
const unauthIdle = 5 * time.Second

// Listen binds o.Addr for c. An address other hosts reach without a token
// is ErrTokenRequired.
func Listen(c Source, o Options) (*Server, error) { return listen(c, o, false) }

// ListenMetrics binds o.Addr to serve o.Metrics at /metrics and nothing
// else (zmqcollect's --metrics, for Prometheus), under Listen's rules for
// the address, the token, the Host and Origin, and the connections held
// open: a port other hosts reach cannot be used to hold every file
// descriptor of the collector, nor to make it gather its metrics for
// anyone without the token (with a thousand producers a scrape costs
// about 20 ms of CPU). Without the page there are no streams and no rate
// limit: a scraper with the token, or a process on this host, is trusted.
// Its refusals are counted apart from the page's
// (zmqlog_metrics_requests_refused_total).
func ListenMetrics(c Source, o Options) (*Server, error) {
	if o.Metrics == nil {
		return nil, errors.New("web: ListenMetrics needs Options.Metrics")
	}
	return listen(c, o, true)
}

func listen(c Source, o Options, metricsOnly bool) (*Server, error) {
	o.fill()
	loopback := IsLoopback(o.Addr)
	what := "http"
	if metricsOnly {
		what = "metrics"
	}
	if !loopback && o.Token == "" {
		return nil, fmt.Errorf("%s %s: %w", what, o.Addr, ErrTokenRequired)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, err
	}
	if loopback && !boundToLoopback(ln.Addr()) {
		// "localhost" is trusted by name; what it resolved to is checked.
		ln.Close()
		return nil, fmt.Errorf("%s %s: bound %s, not a loopback address: %w", what, o.Addr, ln.Addr(), ErrTokenRequired)
	}
	s := &Server{c: c, opts: o, metricsOnly: metricsOnly, token: newToken(o.Token), hosts: hostCheck{loopback: loopback},
		streams: make(chan struct{}, o.MaxStreams), stop: make(chan struct{})}
	if !metricsOnly {
		s.rate = newTokenBucket(float64(o.RequestsPerSecond), float64(2*o.RequestsPerSecond))
	}
	var idle time.Duration
	if s.token != nil {
		idle = unauthIdle
	}
	s.ln = newLimitListener(ln, o.MaxConns, o.MaxConnsPerHost, idle, &s.count.connsRefused)
	s.shared.c = c
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(o.Log.Handler(), slog.LevelWarn),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	return s, nil
}

// Addr is the address listened on, with the real port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the page's address.
func (s *Server) URL() string { return "http://" + s.Addr() + "/" }

// Serve serves until Close; it returns nil then.
func (s *Server) Serve() error {
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close ends every stream and connection and returns when every
// handler has (a /metrics scrape in progress included), so nothing of the
// server runs on after it.
func (s *Server) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	err := s.srv.Close()
	s.ln.Close() // Serve may never have been called
	s.handlers.closeAndWait()
	return err
}

// handlerGate counts the handlers running so that Close can wait for
// them; once closed it admits none, so that none starts after the wait
// has begun (a WaitGroup must not grow from zero during a Wait).
type handlerGate struct {
	mu      sync.Mutex
	closed  bool
	running sync.WaitGroup
}

func (g *handlerGate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.running.Add(1)
	return true
}

func (g *handlerGate) leave() { g.running.Done() }

func (g *handlerGate) closeAndWait() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.running.Wait()
}

// Handler is the server's routes with every check applied, for tests that
// serve it themselves.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	if s.metricsOnly {
		mux.Handle("GET /metrics", s.api(s.opts.Metrics))
		// Every other path wants the token too, so that a client without
		// it is refused and closed, not answered 404 on a connection it
		// may keep.
		mux.Handle("/", s.api(http.NotFoundHandler()))
		return s.guard(mux)
	}
	files, _ := fs.Sub(static, "static")
	fileServer := http.FileServerFS(files)
	for _, p := range []string{"/", "/app.js", "/app.css", "/favicon.svg"} {
		mux.Handle("GET "+p, s.page(fileServer))
	}
	mux.Handle("GET /api/stream", s.api(http.HandlerFunc(s.stream)))
	if s.opts.Metrics != nil {
		mux.Handle("GET /metrics", s.api(s.opts.Metrics))
	}
	return s.guard(mux)
}

// guard applies what every request needs: a place among the handlers
// Close waits for, the security headers, GET only, and on loopback a
// loopback Host.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.handlers.enter() {
			refuse(w, "closing", http.StatusServiceUnavailable)
			return
		}
		defer s.handlers.leave()
		securityHeaders(w.Header())
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.count.badMethod.Add(1)
			refuse(w, "only GET", http.StatusMethodNotAllowed)
			return
		}
		if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
			// No route takes a body, and net/http reads an announced one
			// before it answers, with no deadline: a client that never
			// sends it would keep the connection for good.
			s.count.withBody.Add(1)
			refuse(w, "a request here has no body", http.StatusBadRequest)
			return
		}
		if !s.hosts.hostAllowed(r) {
			s.count.refusedHost.Add(1)
			refuse(w, "this server answers to a loopback name only (localhost, 127.0.0.1, [::1])", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// page serves the page's own files, which hold no data: no token needed.
// "/" only, not every path under it.
func (s *Server) page(files http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.token != nil && !authorised(r) {
			// The page's files need no token, so a connection that has
			// not shown it is closed after each one: otherwise a client
			// asking for them every few seconds would keep its slot.
			w.Header().Set("Connection", "close")
		}
		if r.URL.Path == "/" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(indexHTML)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// indexHTML is the page: FileServer would redirect "/index.html" to "/"
// and "/" would list the directory, so "/" serves it directly.
var indexHTML, _ = static.ReadFile("static/index.html")

// api guards data: the request rate, the origin, and the token.
func (s *Server) api(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if !s.hosts.originAllowed(r) {
			s.count.refusedHost.Add(1)
			refuse(w, "cross-origin requests are refused", http.StatusForbidden)
			return
		}
		if s.token != nil && !s.token.allows(r) {
			s.count.unauthorized.Add(1)
			w.Header().Set("WWW-Authenticate", `Bearer realm="zmqcollect"`)
			refuse(w, "a token is required: Authorization: Bearer TOKEN", http.StatusUnauthorized)
			return
		}
		authorise(r)
		if s.rate != nil && !s.rate.allow(time.Now()) {
			s.count.rateLimited.Add(1)
			w.Header().Set("Retry-After", "1")
			refuse(w, "too many requests", http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Stats is what the server counts.
type Stats struct {
	// Streams open now; StreamsServed since start; Busy refused at
	// MaxStreams; RateLimited past RequestsPerSecond; Unauthorized
	// without the token; RefusedHost for a Host or Origin not allowed;
	// BadMethod for a method other than GET and HEAD; WithBody for a
	// request that announced a body.
	Streams                                                                          int
	StreamsServed, Busy, RateLimited, Unauthorized, RefusedHost, BadMethod, WithBody uint64
	// Sent counts entries sent on streams; Missed entries streams skipped
	// (too slow, or evicted before they were read); SlowClosed streams
	// closed because a write did not complete in time.
	Sent, Missed, SlowClosed uint64
	// ConnsRefused counts connections closed at once, past
	// MaxConnsPerHost from one IP.
	ConnsRefused uint64
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Streams: len(s.streams), StreamsServed: s.count.streamsServed.Load(), Busy: s.count.busy.Load(),
		RateLimited: s.count.rateLimited.Load(), Unauthorized: s.count.unauthorized.Load(), RefusedHost: s.count.refusedHost.Load(),
		BadMethod: s.count.badMethod.Load(), WithBody: s.count.withBody.Load(),
		Sent: s.count.sent.Load(), Missed: s.count.missed.Load(), SlowClosed: s.count.slowClosed.Load(),
		ConnsRefused: s.count.connsRefused.Load(),
	}
}
