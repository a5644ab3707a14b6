package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/zmqlog/zmqlog/collector/vlsink"
	"github.com/zmqlog/zmqlog/internal/lograte"
	"github.com/zmqlog/zmqlog/internal/zcert"
	"github.com/zmqlog/zmqlog/internal/zsock"

	"github.com/zmqlog/zmqlog/wire"
)

// Collector receives log entries from many producers on a PULL socket,
// appends each to the store, re-publishes it on a PUB socket as the
// two-frame message [topic, entry], and forwards everything to other
// collectors if some are configured (each batch to one of them,
// renumbered for it: see relayNumbers).
//
//	producers ─PUSH─▶ PULL ─▶ ingest, by turns ─┬─▶ store (buffered, rotated file; stdout)
//	                                            ├─▶ PUB: a bounded queue per subscriber
//	                                            └─▶ forward: PUSH to the next tier
//
// Ingest never waits for subscribers or for the next tier: a subscriber
// or tier that cannot keep up misses messages, and they are counted.
type Collector struct {
	cfg     Config
	pull    *zsock.Puller
	pub     *zsock.Publisher // nil: publishing off
	forward *zsock.Pusher    // nil: no forward
	relay   *relayNumbers    // numbers forwarded batches per upstream
	store   *store
	vl      *vlsink.Sink // nil: not sending to VictoriaLogs
	history *History     // nil: no history kept
	host    string
	started time.Time

	mu         sync.Mutex // guards streams and stateDirty; taken inside the store's appendBatch and flushThen
	streams    *streams
	stateDirty bool

	count counters
	// subscriberDroppedSaid is the subscriber drops already logged; only
	// the background goroutine touches it.
	subscriberDroppedSaid uint64
	limiter               lograte.PerKind
	batchHis              batchSizes
	stop                  chan struct{}
	wg                    sync.WaitGroup
}

type counters struct {
	messages, batches, plain, bytes        atomic.Uint64
	received, published, wrapped           atomic.Uint64
	invalidUTF8, malformed, unknownVersion atomic.Uint64
	forwarded, forwardDropped              atomic.Uint64
	forwardAbandoned                       atomic.Uint64
	seriesSkipped                          atomic.Uint64
}

// New binds the sockets and opens the store. A malformed endpoint, a port
// in use or an unwritable file is an error here.
func New(cfg Config) (*Collector, error) {
	eps, err := cfg.applyDefaults()
	if err != nil {
		return nil, err
	}
	c := &Collector{cfg: cfg, streams: newStreams(), stop: make(chan struct{}), started: time.Now()}
	c.host, _ = os.Hostname()
	if cfg.StateFile != "" {
		st, err := loadState(cfg.StateFile)
		if err != nil {
			// A damaged state file must not keep the collector down: start
			// afresh (gaps will be over-reported) and say so.
			c.report("state", fmt.Errorf("%v; starting without producer positions", err))
		}
		c.streams.restore(st)
	}
	curve, err := c.loadCurve(&cfg)
	if err != nil {
		return nil, err
	}
	if cfg.HistoryBytes > 0 {
		c.history = NewHistory(cfg.HistoryBytes)
	}
	c.store, err = openStore(&c.cfg, c.report)
	if err != nil {
		return nil, err
	}
	// A short receive queue: messages are batches of up to 64 KiB, so the
	// default of 1000 would hold 64 MiB; beyond the queue, TCP pushes back
	// on the producers.
	c.pull, err = zsock.ListenPull(eps.pull, cfg.Limits.socketOptions(zsock.Options{MaxMessageSize: cfg.MaxMessageSize, RecvQueue: 16, OnEvent: c.onPeerEvent, Curve: curve.server}))
	if err != nil {
		c.store.close()
		return nil, err
	}
	if !cfg.NoPub {
		c.pub, err = zsock.ListenPub(eps.pub, cfg.Limits.socketOptions(zsock.Options{SendQueue: cfg.SubscriberQueue, OnEvent: c.onPeerEvent, Curve: curve.pub}))
		if err != nil {
			c.pull.Close()
			c.store.close()
			return nil, err
		}
	}
	if eps.forward != nil {
		// Forwarded batches are renumbered per upstream endpoint (see
		// relayNumbers): the socket balances them across endpoints.
		c.relay = newRelayNumbers()
		c.forward = zsock.DialPush(eps.forward, zsock.Options{SendQueue: 1000, OnEvent: c.onForwardEvent, Curve: curve.forward})
	}
	if err := c.openVictoriaLogs(); err != nil {
		c.closeSockets()
		c.store.close()
		return nil, err
	}
	return c, nil
}

// PullEndpoint and PubEndpoint say where to connect, with the real port
// when the configuration asked for port 0.
func (c *Collector) PullEndpoint() string { return c.pull.Endpoint() }

// PubEndpoint is "" when publishing is off.
func (c *Collector) PubEndpoint() string {
	if c.pub == nil {
		return ""
	}
	return c.pub.Endpoint()
}

// Run collects until ctx ends. Then it drains: it goes on reading what
// producers have already written, until the connections are quiet for
// drainIdle or Config.Drain passes. Then it stops accepting, handles every
// message already read, writes the store out and closes everything; what
// was received is in the store when Run returns.
func (c *Collector) Run(ctx context.Context) error {
	c.startVictoriaLogs()
	c.wg.Add(1)
	go c.background()
	var err error
	// Each message is handled by the connection that read it, one at a
	// time: no hand-off to this goroutine, which with a thousand
	// producers sending small batches cost as much as the batches.
	c.pull.Serve(ctx, c.handle)
	// Drain: entries producers wrote before they stopped (say, just
	// before their own shutdown) sit in socket buffers; closing now would
	// lose them with nobody to count them, as no later batch of theirs
	// would reveal the gap.
	deadline := time.Now().Add(c.cfg.Drain)
	for time.Now().Before(deadline) {
		dctx, cancel := context.WithTimeout(context.Background(), min(drainIdle, time.Until(deadline)))
		m, rerr := c.pull.Recv(dctx)
		cancel()
		if rerr != nil {
			break
		}
		c.handle(m)
	}
	// Shutdown: no new messages, but everything already read goes through.
	c.pull.Close()
	for {
		m, rerr := c.pull.Recv(context.Background())
		if rerr != nil {
			break
		}
		c.handle(m)
	}
	close(c.stop)
	c.wg.Wait()
	if c.pub != nil {
		c.pub.Close()
	}
	if c.forward != nil {
		fctx, cancel := context.WithTimeout(context.Background(), forwardFlush)
		ferr := c.forward.Flush(fctx)
		cancel()
		c.forward.Close() // what it still holds goes to forwardDone, abandoned
		if n := c.count.forwardAbandoned.Load(); n > 0 {
			// A kind of its own: "forward" is busy with dial failures
			// when the next tier is down, and this must not be held back.
			c.report("forward_abandoned", fmt.Errorf("stopped with %d entries not yet taken by the next tier %s: lost (%v)", n, c.cfg.Forward, ferr))
		}
	}
	c.flushAndSave()
	if serr := c.store.close(); serr != nil {
		err = serr
	}
	c.closeVictoriaLogs() // after the store: it sends what the store holds
	return err
}

// forwardFlush bounds how long Run, stopping, waits for the next tier to
// take what is queued for it; the rest is abandoned and counted.
const forwardFlush = 2 * time.Second

// drainIdle is how long the connections must be quiet for a drain to end
// before Config.Drain: well above a shipper's 5ms linger. A variable for
// the test that needs it longer on a loaded machine.
var drainIdle = 100 * time.Millisecond

// flushAndSave writes the store out and then, if producer positions
// changed, the state file, from a snapshot taken under the store's lock:
// the positions saved never run ahead of what the store holds.
func (c *Collector) flushAndSave() {
	var snap *savedState
	c.store.flushThen(func() {
		if c.cfg.StateFile == "" {
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.stateDirty {
			s := c.streams.snapshot()
			snap = &s
			c.stateDirty = false
		}
	})
	if snap != nil {
		if err := saveState(c.cfg.StateFile, c.cfg.FileMode, *snap); err != nil {
			c.report("state", fmt.Errorf("saving producer positions: %w", err))
		}
	}
}

// background flushes the store and publishes the heartbeat.
func (c *Collector) background() {
	defer c.wg.Done()
	flush := time.NewTicker(c.cfg.FlushInterval)
	defer flush.Stop()
	beat := time.NewTicker(c.cfg.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-flush.C:
			c.flushAndSave()
		case <-beat.C:
			c.heartbeat()
		case <-c.stop:
			return
		}
	}
}

// handle processes one received message.
func (c *Collector) handle(m zsock.Message) {
	c.count.messages.Add(1)
	b, err := wire.Decode(m.Frames)
	if err != nil {
		if errors.Is(err, wire.ErrUnknownVersion) {
			c.count.unknownVersion.Add(1)
		} else {
			c.count.malformed.Add(1)
		}
		c.report("message", fmt.Errorf("skipped a message from %s: %w", m.Peer.Addr, err))
		return
	}
	c.count.bytes.Add(uint64(b.Bytes))
	if b.Plain {
		c.count.plain.Add(1)
	} else {
		c.count.batches.Add(1)
		c.batchHis.observe(b.Count)
	}
	if c.forward != nil {
		if !c.forward.TrySend(c.relay.message(m.Frames, b.Count, c.forwardDone)) { // accepted ones are counted by forwardDone
			c.count.forwardDropped.Add(uint64(b.Count))
			c.report("forward", errors.New("the next tier is not keeping up: entries dropped"))
		}
	}
	// One allocation for all the entries' [topic, entry] frames.
	frames := make([][]byte, 0, 2*b.Count)
	received, invalid, wrapped := 0, 0, 0
	pinned := receivedBytes(m.Frames) // what the published entries keep alive: see publishBatch
	// The batch's position and its entries go in together (appendBatch),
	// so a state snapshot never holds one without the other.
	c.store.appendBatch(c.producerStamp(&b), func(add func(line []byte)) {
		if !b.Plain {
			c.mu.Lock()
			c.streams.observe(&b, time.Now())
			c.stateDirty = true
			c.mu.Unlock()
		}
		for tp, data := range b.Entries() {
			received++
			line, body := asStoredLine(data)
			if body == bodyNotUTF8 || !utf8.Valid(tp) {
				invalid++
				continue
			}
			if len(tp) == 0 {
				tp = []byte(levelOf(data))
				pinned += int64(cap(tp))
			}
			if body == bodyText {
				line = wrap(string(tp), data)
				wrapped++
			}
			pinned += madeBytes(line, data)
			add(line)
			if c.pub != nil || c.history != nil {
				frames = append(frames, tp, line) // into the received message (or made here), never written again: see publishBatch
			}
		}
	})
	c.count.received.Add(uint64(received))
	c.count.wrapped.Add(uint64(wrapped))
	if invalid > 0 {
		c.count.invalidUTF8.Add(uint64(invalid))
		c.report("utf8", fmt.Errorf("skipped %d entries from %s that are not valid UTF-8", invalid, m.Peer.Addr))
	}
	if c.pub != nil && len(frames) > 0 {
		c.count.published.Add(uint64(publishBatch(c.pub, frames, pinned)))
	}
	if c.history != nil {
		c.history.Append(frames, time.Now()) // copies what it keeps
	}
}

// heartbeat publishes the collector's counters on HeartbeatTopic, so a
// subscriber can tell a quiet stream from a collector that is gone.
func (c *Collector) heartbeat() {
	if c.pub == nil {
		return
	}
	st := c.Stats()
	// Entries a slow subscriber missed are counted in the metrics; say so
	// in the log too (at most once a heartbeat), so that an operator who
	// reads only the log learns that a tail is not keeping up.
	if n := st.SubscriberDropped - c.subscriberDroppedSaid; n > 0 {
		c.subscriberDroppedSaid = st.SubscriberDropped
		c.report("subscriber", fmt.Errorf("%d entries dropped for subscribers that did not keep up (%d in all)", n, st.SubscriberDropped))
	}
	body, _ := json.Marshal(map[string]any{
		"time": time.Now().UTC().Format(time.RFC3339Nano), "host": c.host,
		"received": st.Received, "stored": st.Stored, "published": st.Published,
		"gaps": st.Gaps, "gaps_repaired": st.GapsRepaired, "producers": st.LiveProducers, "subscribers": st.Subscribers,
	})
	c.pub.Publish([][]byte{[]byte(HeartbeatTopic), body})
}

func (c *Collector) onPeerEvent(e zsock.Event) {
	if e.Kind == zsock.AcceptFailed {
		// Without this a collector out of file descriptors would only
		// stop taking peers, saying nothing.
		// Limited per port, as the connection limits below are, so that
		// one port's refusals do not hide the other's.
		c.reportAs("accept "+e.Endpoint, "accept", fmt.Errorf("cannot take new connections on %s: %w; peers wait in the kernel's queue meanwhile", e.Endpoint, e.Err))
		return
	}
	if e.Kind != zsock.Rejected {
		return
	}
	if e.HasCurveKey() {
		// A CURVE client that proved its key and was refused: name the
		// key (public), so the operator can add it to the list or hunt it
		// down; its own kind, so scanners' noise does not hold it back.
		c.report("curve_refused", fmt.Errorf("refused CURVE client %s (key %s) on %s: %w", e.Peer, zcert.Key(e.CurveKey), e.Endpoint, e.Err))
		return
	}
	if errors.Is(e.Err, zsock.ErrOverLimit) || errors.Is(e.Err, zsock.ErrOverHostLimit) {
		// Turned away at a connection limit: a kind of its own, so that a
		// fleet outgrowing --max-conns is said in the log and not lost
		// among scanners' failed handshakes.
		c.reportAs("peer_limit "+e.Endpoint, "peer_limit", fmt.Errorf("turned away %s on %s: %w", e.Peer, e.Endpoint, e.Err))
		return
	}
	c.report("peer", fmt.Errorf("dropped peer %s on %s: %w", e.Peer, e.Endpoint, e.Err))
}

// forwardDone is told what became of each message queued for the next
// tier: written to its connection, or abandoned when Run closed the
// pusher after its flush deadline; then the entries it held are lost and
// counted.
// forwardDone counts a forwarded message once the forward socket is done
// with it: written to the next tier, or abandoned at close.
func (c *Collector) forwardDone(entries uint64, written bool) {
	if written {
		c.count.forwarded.Add(1)
		return
	}
	c.count.forwardAbandoned.Add(entries)
}

func (c *Collector) onForwardEvent(e zsock.Event) {
	if e.Kind == zsock.DialFailed {
		c.report("forward", fmt.Errorf("cannot reach the next tier %s: %w", e.Endpoint, e.Err))
	}
}

// report logs a problem, each kind at most once per second; the count of
// what was held back goes with the next message of that kind.
func (c *Collector) report(kind string, err error) { c.reportAs(kind, kind, err) }

// reportAs is report with the limit kept under key rather than kind.
func (c *Collector) reportAs(key, kind string, err error) {
	if n, ok := c.limiter.Allow(key, time.Now()); ok {
		if n > 0 {
			c.cfg.Log.Warn(err.Error(), "kind", kind, "suppressed", n)
		} else {
			c.cfg.Log.Warn(err.Error(), "kind", kind)
		}
	}
}
