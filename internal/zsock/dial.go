package zsock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
)

// EndpointStatus is the state of one endpoint of a connecting socket.
type EndpointStatus struct {
	Endpoint string
	// Connected is true while a handshaken connection is up.
	Connected bool
	// Since is when Connected last changed.
	Since time.Time
	// Connects counts completed handshakes; every one after the first is
	// a reconnect.
	Connects uint64
	// Failures counts dial or handshake attempts that failed.
	Failures uint64
	// LastError is the error of the last failed attempt or disconnect.
	LastError string
}

// dialer keeps one connection per endpoint alive: it dials in the
// background, runs serve on each handshaken connection until serve
// returns, and re-dials with exponential backoff and jitter.
type dialer struct {
	typ    zmq4.SocketType
	opts   Options
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	eps    []*endpointState
	serve  func(endpoint int, c *conn)
}

type endpointState struct {
	ep     Endpoint
	mu     sync.Mutex
	status EndpointStatus
}

func newDialer(eps []Endpoint, typ zmq4.SocketType, opts Options, serve func(endpoint int, c *conn)) *dialer {
	ctx, cancel := context.WithCancel(context.Background())
	d := &dialer{typ: typ, opts: opts, ctx: ctx, cancel: cancel, serve: serve}
	for _, ep := range eps {
		d.eps = append(d.eps, &endpointState{ep: ep, status: EndpointStatus{Endpoint: ep.String(), Since: time.Now()}})
	}
	return d
}

func (d *dialer) start() {
	for i, es := range d.eps {
		d.wg.Add(1)
		go d.loop(i, es)
	}
}

// stop ends every dial loop and connection and waits for them.
func (d *dialer) stop() {
	d.cancel()
	d.wg.Wait()
}

func (d *dialer) statuses() []EndpointStatus {
	out := make([]EndpointStatus, len(d.eps))
	for i, es := range d.eps {
		es.mu.Lock()
		out[i] = es.status
		es.mu.Unlock()
	}
	return out
}

func (d *dialer) loop(index int, es *endpointState) {
	defer d.wg.Done()
	bo := backoff{min: d.opts.ReconnectMin, max: d.opts.ReconnectMax}
	for {
		c, err := d.connect(es.ep)
		if d.ctx.Err() != nil {
			if c != nil {
				c.close()
			}
			return
		}
		if err != nil {
			es.mu.Lock()
			es.status.Failures++
			es.status.LastError = err.Error()
			es.mu.Unlock()
			d.opts.emit(Event{Kind: DialFailed, Endpoint: es.ep.String(), Err: err})
			if !d.wait(bo.next()) {
				return
			}
			continue
		}
		bo.reset()
		es.mu.Lock()
		es.status.Connected = true
		es.status.Since = time.Now()
		es.status.Connects++
		es.mu.Unlock()
		d.opts.emit(Event{Kind: Connected, Endpoint: es.ep.String(), Peer: c.peer.Addr, CurveKey: c.peer.CurveKey})

		// Close the connection when the socket stops, so serve returns.
		stopWatch := context.AfterFunc(d.ctx, func() { c.close() })
		d.serve(index, c)
		stopWatch()
		c.close()

		es.mu.Lock()
		es.status.Connected = false
		es.status.Since = time.Now()
		es.status.LastError = "connection lost"
		es.mu.Unlock()
		if d.ctx.Err() != nil {
			return
		}
		d.opts.emit(Event{Kind: Disconnected, Endpoint: es.ep.String(), Peer: c.peer.Addr, CurveKey: c.peer.CurveKey, Err: io.EOF})
		if !d.wait(bo.next()) {
			return
		}
	}
}

// backoff yields the waits between dial attempts: each is jittered to
// between half and all of the current step, and the step doubles from min
// up to max. Jitter keeps many producers from re-dialling a restarted
// collector in lockstep.
type backoff struct {
	min, max, step time.Duration
}

func (b *backoff) next() time.Duration {
	if b.step == 0 {
		b.step = b.min
	}
	d := b.step/2 + rand.N(b.step/2+1)
	b.step = min(2*b.step, b.max)
	return d
}

func (b *backoff) reset() { b.step = 0 }

// wait sleeps for d or until the dialer stops; it reports whether the
// dialer is still running.
func (d *dialer) wait(delay time.Duration) bool {
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-d.ctx.Done():
		return false
	}
}

func (d *dialer) connect(ep Endpoint) (*conn, error) {
	if d.opts.Curve != nil {
		// A CURVE client that cannot work is told at every attempt (its
		// DialFailed events), and never connects with a key of nobody.
		if err := d.opts.Curve.validateClient(); err != nil {
			return nil, fmt.Errorf("zsock: dial %s: %w", ep, err)
		}
	}
	nd := net.Dialer{Timeout: d.opts.DialTimeout, KeepAlive: d.opts.KeepAlive}
	nc, err := nd.DialContext(d.ctx, ep.network(), ep.Address)
	if err != nil {
		return nil, err
	}
	return handshake(d.ctx, nc, d.typ, false, d.opts)
}

// isClosedErr reports whether err only says the connection was closed,
// which is how every connection ends and not worth reporting.
func isClosedErr(err error) bool {
	return err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}
