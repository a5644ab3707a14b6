package zsock

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"
)

// Errors of the handshake limits. A listening socket counts each under
// its own reason (ListenerStats.OverHandshakeRate, CryptoBusy).
var (
	// ErrOverHandshakeRate: a host opened new connections to a CURVE
	// listener faster than Options.HandshakeRate allows; the connection
	// was closed before any cryptography.
	ErrOverHandshakeRate = errors.New("zsock: host over its CURVE handshake rate")
	// ErrCryptoBusy: every CURVE crypto slot of the listener stayed taken
	// until the connection's handshake deadline.
	ErrCryptoBusy = errors.New("zsock: CURVE handshake crypto busy until the handshake deadline")
)

// handshakeRate is a token bucket per host for the handshakes a CURVE
// listener starts. A HELLO costs its sender nothing (one box, made once,
// replayed on every connection) and the server two X25519 operations and
// two boxes; MaxConnsPerHost bounds how many run at once, not how many per
// second. Each host may start burst handshakes at once and then rate per
// second.
//
// The state is bounded: a host whose bucket has refilled is no different
// from one never seen, so it is forgotten (swept at most once per refill
// time), and at most maxHosts are tracked. Hosts beyond that share one
// overflow bucket, so a spray of addresses (an IPv6 prefix) can neither
// grow the table nor get past the rate, though it can slow other new
// hosts while it lasts.
type handshakeRate struct {
	rate     float64 // tokens per second
	burst    float64
	maxHosts int

	mu        sync.Mutex
	hosts     map[string]*tokenBucket
	overflow  tokenBucket
	lastSweep time.Time
}

type tokenBucket struct {
	tokens float64
	last   time.Time
}

// maxRateHosts bounds the hosts a listener's handshake rate tracks.
const maxRateHosts = 16384

func newHandshakeRate(rate float64, burst, maxHosts int) *handshakeRate {
	return &handshakeRate{rate: rate, burst: float64(burst), maxHosts: maxHosts, hosts: map[string]*tokenBucket{}}
}

// allow takes one token of host's bucket at now, or reports false.
func (h *handshakeRate) allow(host string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sweep(now)
	b := h.hosts[host]
	if b == nil {
		if len(h.hosts) >= h.maxHosts {
			b = &h.overflow
		} else {
			b = &tokenBucket{tokens: h.burst, last: now}
			h.hosts[host] = b
		}
	}
	if b.last.IsZero() { // the overflow bucket's first use
		b.tokens, b.last = h.burst, now
	}
	if now.After(b.last) {
		b.tokens = min(h.burst, b.tokens+now.Sub(b.last).Seconds()*h.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweep forgets the hosts whose buckets are full again, at most once per
// refill time (burst/rate), so its cost is spread thin.
func (h *handshakeRate) sweep(now time.Time) {
	// In seconds, as a float: a tiny rate's refill time overflows a
	// Duration.
	if refill := h.burst / h.rate; now.Sub(h.lastSweep).Seconds() < refill {
		return
	}
	h.lastSweep = now
	for host, b := range h.hosts {
		if b.tokens+now.Sub(b.last).Seconds()*h.rate >= h.burst {
			delete(h.hosts, host)
		}
	}
}

// tracked is the number of hosts with a bucket of their own.
func (h *handshakeRate) tracked() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.hosts)
}

// cryptoGate bounds the CURVE crypto steps a listener runs at once, so
// that handshakes, however many arrive, leave a core to the connections
// already serving data. A step waits for a slot until its handshake's
// deadline, then gives up (ErrCryptoBusy).
type cryptoGate struct{ slots chan struct{} }

// defaultCryptoSlots leaves one core of GOMAXPROCS to the data path.
func defaultCryptoSlots() int { return max(1, runtime.GOMAXPROCS(0)-1) }

func newCryptoGate(n int) *cryptoGate { return &cryptoGate{slots: make(chan struct{}, n)} }

// enter takes a slot, waiting until deadline or ctx ends.
func (g *cryptoGate) enter(ctx context.Context, deadline time.Time) error {
	select {
	case g.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-t.C:
		return ErrCryptoBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *cryptoGate) leave() { <-g.slots }
