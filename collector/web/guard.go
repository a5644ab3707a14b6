package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// IsLoopback reports whether a listen address (host:port) binds only
// this machine: a loopback IP or "localhost". An empty host or an
// unspecified IP (":9559", "0.0.0.0:9559") binds every interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// boundToLoopback reports whether a listener's address is a loopback IP:
// a name such as "localhost" is only as good as what it resolved to.
func boundToLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

// ErrTokenRequired is New's error for a non-loopback address without a
// token: anyone who reaches it would read every entry.
var ErrTokenRequired = errors.New("an address other hosts reach needs a token")

// token is a bearer token compared in constant time: both sides are
// hashed first, so neither the comparison nor its length leaks how much of
// a guess was right.
type token struct{ sum [sha256.Size]byte }

func newToken(s string) *token {
	if s == "" {
		return nil
	}
	return &token{sha256.Sum256([]byte(s))}
}

// allows reports whether the request carries the token in its
// Authorization header ("Bearer TOKEN").
func (t *token) allows(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1
}

// hostCheck refuses, on a loopback bind, a request whose Host is not a
// loopback name: a page on another site that re-binds its own DNS name to
// 127.0.0.1 (DNS rebinding) sends its own name as Host. A request with an
// Origin (a browser's fetch) must come from the page's own origin.
type hostCheck struct{ loopback bool }

func (h hostCheck) hostAllowed(r *http.Request) bool {
	if !h.loopback {
		return true // the token guards it
	}
	host := r.Host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// originAllowed: no Origin (curl, zmqtail, a same-origin GET) or the
// request's own origin. A cross-site fetch marked by the browser is
// refused too.
func (h hostCheck) originAllowed(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, r.Host)
}

// securityHeaders are on every response: no script but the page's own
// files, no framing, no MIME sniffing, no referrer.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// tokenBucket bounds the rate of API requests: rate a second, up to burst
// at once. Past it a request is refused (429) and counted.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate, burst float64) *tokenBucket {
	return &tokenBucket{rate: rate, burst: burst, tokens: burst}
}

func (b *tokenBucket) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// limitListener holds at most n connections open, and at most perHost
// from one IP; past the first Accept waits for one to close, past the
// second the new connection is closed at once (and counted). So a flood
// of idle connections costs n, not memory without bound, and one host
// cannot take every slot.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
	perHost   int
	// unauthIdle, when set, bounds how long a connection that has not
	// yet made an authorised request may wait for its next one.
	unauthIdle time.Duration
	refused    *atomic.Uint64

	mu     sync.Mutex
	byHost map[string]int
}

func newLimitListener(l net.Listener, n, perHost int, unauthIdle time.Duration, refused *atomic.Uint64) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, n), closed: make(chan struct{}),
		perHost: perHost, unauthIdle: unauthIdle, refused: refused, byHost: map[string]int{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		select {
		case l.slots <- struct{}{}:
		case <-l.closed:
			return nil, net.ErrClosed
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			return nil, err
		}
		host := hostOf(c.RemoteAddr())
		if !l.take(host) {
			l.refused.Add(1)
			c.Close()
			<-l.slots
			continue
		}
		lc := &limitConn{Conn: c, unauthIdle: l.unauthIdle, release: func() { l.give(host); <-l.slots }}
		if l.unauthIdle == 0 {
			lc.authorised.Store(true)
		}
		return lc, nil
	}
}

func (l *limitListener) take(host string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byHost[host] >= l.perHost {
		return false
	}
	l.byHost[host]++
	return true
}

func (l *limitListener) give(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byHost[host]--; l.byHost[host] <= 0 {
		delete(l.byHost, host)
	}
}

func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	return a.String()
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// limitConn gives its slot back when closed. Until it has made a request
// with the token, every deadline the HTTP server sets on it (waiting for
// a request's header, or idle between requests) is cut to unauthIdle:
// without the token a client cannot keep a slot for the minute an
// authorised one may idle.
type limitConn struct {
	net.Conn
	once       sync.Once
	release    func()
	unauthIdle time.Duration
	authorised atomic.Bool
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

func (c *limitConn) SetReadDeadline(t time.Time) error {
	// A zero deadline is the server reading in the background while a
	// handler runs: that one is the handler's business.
	if !t.IsZero() && !c.authorised.Load() {
		if short := time.Now().Add(c.unauthIdle); t.After(short) {
			t = short
		}
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *limitConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

type connKey struct{}

// authorise marks the request's connection as having shown the token.
func authorise(r *http.Request) {
	if c, ok := r.Context().Value(connKey{}).(*limitConn); ok {
		c.authorised.Store(true)
	}
}

// authorised reports whether the request's connection has shown the token.
func authorised(r *http.Request) bool {
	c, ok := r.Context().Value(connKey{}).(*limitConn)
	return ok && c.authorised.Load()
}

// refuse answers a request it will not serve and closes its connection
// after: a client refused keeps no slot. The read deadline is cut first:
// before closing, net/http reads what is left of the request's body, and
// a client that announced a body and sends none would otherwise hold the
// slot for as long as it likes (once a request's header is read the
// server sets no read deadline of its own).
func refuse(w http.ResponseWriter, msg string, code int) {
	http.NewResponseController(w).SetReadDeadline(time.Now())
	w.Header().Set("Connection", "close")
	http.Error(w, msg, code)
}
