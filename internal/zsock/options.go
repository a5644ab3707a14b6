package zsock

import (
	"errors"
	"time"
)

// ErrClosed is returned by operations on a closed socket.
var ErrClosed = errors.New("zsock: socket closed")

// Options tunes a socket. The zero value means the defaults; a negative
// duration where noted turns the feature off.
type Options struct {
	// DialTimeout bounds one TCP or IPC connect. Default 5s.
	DialTimeout time.Duration
	// HandshakeTimeout bounds the ZMTP greeting and READY exchange, on both
	// sides: a peer that connects and stays silent is dropped after it.
	// Default 5s.
	HandshakeTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the exponential backoff between
	// dial attempts; each wait is jittered to between half and all of the
	// current step. Defaults 100ms and 5s.
	ReconnectMin, ReconnectMax time.Duration
	// KeepAlive is the TCP keepalive period; negative turns it off.
	// Default 15s.
	KeepAlive time.Duration
	// WriteTimeout: a connection that accepts no bytes for this long is
	// treated as dead (messages not yet written move to another
	// connection). Negative turns it off. Default 15s.
	WriteTimeout time.Duration
	// MaxMessageSize bounds one incoming message (frame bodies plus a small
	// per-frame overhead). A peer that announces more is disconnected and
	// counted. Default 16 MiB.
	MaxMessageSize int64
	// SendQueue is the number of messages a publisher queues per
	// subscriber before it drops for that subscriber, and the number a
	// pusher holds before Send waits. Default 1000.
	SendQueue int

	// Publisher limits. What one subscriber may ask of a publisher, and
	// what the publisher keeps alive for its subscribers.
	//
	// MaxSubscriptions bounds the subscriptions one subscriber holds at a
	// time (each SUBSCRIBE counts, a CANCEL gives one back) and
	// MaxSubscriptionBytes the sum of their topic lengths. A subscriber
	// that asks for more is disconnected and counted
	// (PublisherStats.OverSubscribed). Defaults 1024 and 64 KiB.
	MaxSubscriptions, MaxSubscriptionBytes int
	// SendQueueBytes bounds the bytes of messages queued for one
	// subscriber (and being written to it), PublisherQueueBytes the same
	// over all subscribers of a publisher: past either, as past
	// SendQueue, a message is dropped for that subscriber and counted.
	// Messages published shared count their whole block (see
	// Publisher.PublishShared).
	// Defaults 4 MiB and 16 MiB.
	SendQueueBytes, PublisherQueueBytes int64
	// MaxPublisherSubscriptionBytes bounds the memory all subscribers'
	// subscriptions keep alive on a publisher: each distinct topic a
	// subscriber holds counts twice its length plus 384 bytes for the
	// trie nodes that hold it (repeats of a topic cost nothing more). A
	// subscriber whose subscription would pass it is disconnected and
	// counted (PublisherStats.OverSubscribed). Default 16 MiB: about
	// 40,000 distinct subscriptions of short topics.
	MaxPublisherSubscriptionBytes int64

	// RecvQueue is the number of received messages a puller or subscriber
	// holds before its connections stop reading (TCP then pushes back on
	// the peers). Default 1000.
	RecvQueue int
	// MaxConns bounds concurrent connections on a listening socket; more
	// are closed at once and counted. Default 4096.
	MaxConns int
	// MaxConnsPerHost bounds the connections one host (one IP address)
	// may hold open on a listening socket, so that one host cannot take
	// every slot of MaxConns and lock the others out; more are closed at
	// once and counted. IPC peers are local and not limited. Default 256.
	MaxConnsPerHost int
	// HandshakeRate bounds, per second, the CURVE handshakes one host (one
	// IP address) may start on a listening socket, after a first burst of
	// HandshakeBurst: a HELLO costs its sender nothing (one box, replayed
	// on every connection) and the server two X25519 operations, and
	// MaxConnsPerHost bounds how many run at once, not how many per
	// second. A connection over the rate is closed at once, before any
	// cryptography, and counted (ListenerStats.OverHandshakeRate). IPC
	// peers and NULL listeners are not limited. Negative turns it off.
	// Defaults 100 per second, and a burst of MaxConnsPerHost, so that a
	// host's producers, all reconnecting at once after a collector
	// restart, are let in: they can hold no more than MaxConnsPerHost
	// connections anyway, and real clients reconnect with backoff
	// (ReconnectMin and up), far under 100 per second each host.
	HandshakeRate  float64
	HandshakeBurst int
	// RecvBudget bounds the bytes a PULL socket holds of messages read and
	// not yet returned by Recv, over all its connections; RecvBudgetPerHost
	// is one host's share of it. A connection whose host, or the socket,
	// is over its budget stops reading before its next message (TCP then
	// pushes back on the peer). A message in progress takes its bytes as
	// they arrive and never waits; its connection is dropped (counted as
	// OverBudget) when its host would hold more than twice its share in
	// progress, or when messages in progress are over twice the budget and
	// its host holds more than a fair part of them (see recvBudget).
	// Defaults 16 MiB and 4 MiB, raised to at least MaxMessageSize
	// (plus 8 KiB with CURVE, whose large messages are briefly held twice:
	// the box and its plaintext, both charged).
	RecvBudget, RecvBudgetPerHost int64
	// Heartbeat: a connection whose peer has sent nothing for this long
	// is sent a ZMTP PING; if nothing arrives within HeartbeatTimeout
	// after that, the peer is dropped as gone (counted as silent).
	// libzmq and our sockets answer PINGs by themselves, so idle peers
	// stay. Negative turns it off. Defaults 15s and 15s.
	Heartbeat, HeartbeatTimeout time.Duration
	// OnEvent, if set, is told about connections coming and going and
	// about peers dropped for bad input. It is called from the socket's
	// goroutines and must not block.
	OnEvent func(Event)
	// Curve, if set, makes the socket speak CURVE only (see CurveConfig):
	// listening sockets as the CURVE server, connecting sockets as the
	// client. nil: NULL security, and CURVE peers are refused.
	Curve *CurveConfig
}

// Defaults returns the value each field of Options takes when left zero
// (before withDefaults raises the receive budgets to at least
// MaxMessageSize). Layers above that expose these limits take their
// defaults from here, so each is stated once.
func Defaults() Options {
	return Options{
		DialTimeout: 5 * time.Second, HandshakeTimeout: 5 * time.Second,
		ReconnectMin: 100 * time.Millisecond, ReconnectMax: 5 * time.Second,
		KeepAlive: 15 * time.Second, WriteTimeout: 15 * time.Second,
		Heartbeat: 15 * time.Second, HeartbeatTimeout: 15 * time.Second,
		MaxMessageSize: 16 << 20,
		SendQueue:      1000, RecvQueue: 1000,
		MaxConns: 4096, MaxConnsPerHost: 256,
		RecvBudget: 16 << 20, RecvBudgetPerHost: 4 << 20,
		MaxSubscriptions: 1024, MaxSubscriptionBytes: 64 << 10,
		SendQueueBytes: 4 << 20, PublisherQueueBytes: 16 << 20,
		MaxPublisherSubscriptionBytes: 16 << 20,
		HandshakeRate:                 100, HandshakeBurst: 256,
	}
}

func (o Options) withDefaults() Options {
	d := Defaults()
	def := func(v *time.Duration, dv time.Duration) {
		if *v == 0 {
			*v = dv
		}
	}
	def(&o.DialTimeout, d.DialTimeout)
	def(&o.HandshakeTimeout, d.HandshakeTimeout)
	def(&o.ReconnectMin, d.ReconnectMin)
	def(&o.ReconnectMax, d.ReconnectMax)
	def(&o.KeepAlive, d.KeepAlive)
	def(&o.WriteTimeout, d.WriteTimeout)
	def(&o.Heartbeat, d.Heartbeat)
	def(&o.HeartbeatTimeout, d.HeartbeatTimeout)
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = o.ReconnectMin
	}
	positive(&o.MaxMessageSize, d.MaxMessageSize)
	positive(&o.SendQueue, d.SendQueue)
	positive(&o.RecvQueue, d.RecvQueue)
	positive(&o.MaxConns, d.MaxConns)
	positive(&o.MaxConnsPerHost, d.MaxConnsPerHost)
	if o.HandshakeRate == 0 {
		o.HandshakeRate = d.HandshakeRate
	}
	positive(&o.HandshakeBurst, o.MaxConnsPerHost)
	positive(&o.RecvBudget, d.RecvBudget)
	positive(&o.RecvBudgetPerHost, d.RecvBudgetPerHost)
	// A message at the limit must fit in a host's share; over CURVE its
	// box and its plaintext are held at once while it is opened, which
	// the in-progress allowance (twice the share) must take, with room
	// for the box's overhead and a connection's credit.
	floor := o.MaxMessageSize
	if o.Curve != nil {
		floor += curveBudgetSlack
	}
	o.RecvBudget = max(o.RecvBudget, floor)
	o.RecvBudgetPerHost = min(max(o.RecvBudgetPerHost, floor), o.RecvBudget)
	positive(&o.MaxSubscriptions, d.MaxSubscriptions)
	positive(&o.MaxSubscriptionBytes, d.MaxSubscriptionBytes)
	positive(&o.SendQueueBytes, d.SendQueueBytes)
	positive(&o.PublisherQueueBytes, d.PublisherQueueBytes)
	positive(&o.MaxPublisherSubscriptionBytes, d.MaxPublisherSubscriptionBytes)
	o.Curve = o.Curve.prepare()
	return o
}

// curveBudgetSlack is what a CURVE message at MaxMessageSize needs beyond
// it in a host's share: half of its box's overhead, the frame overhead and
// a connection's reserve (creditChunk), rounded up.
const curveBudgetSlack = 8 << 10

// positive gives a zero or negative size its default.
func positive[T int | int64](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

func (o Options) emit(e Event) {
	if o.OnEvent != nil {
		o.OnEvent(e)
	}
}

// EventKind says what happened to a connection.
type EventKind int

const (
	// Connected: a handshake completed (dialled or accepted).
	Connected EventKind = iota
	// Disconnected: an established connection ended; Err says why.
	Disconnected
	// DialFailed: a dial or handshake attempt to an endpoint failed.
	DialFailed
	// Rejected: an accepted connection was dropped before or during the
	// handshake, or for bad input (Err says which).
	Rejected
	// AcceptFailed: a listener could not take a new connection (Err
	// says why: out of file descriptors, most often). It backs off and
	// tries again; peers meanwhile wait in the kernel's queue.
	AcceptFailed
)

func (k EventKind) String() string {
	switch k {
	case Connected:
		return "connected"
	case Disconnected:
		return "disconnected"
	case DialFailed:
		return "dial failed"
	case Rejected:
		return "rejected"
	case AcceptFailed:
		return "accept failed"
	}
	return "unknown"
}

// Event reports a change of connection state.
type Event struct {
	Kind EventKind
	// Endpoint is the dialled or listening endpoint.
	Endpoint string
	// Peer is the remote address, when known.
	Peer string
	// CurveKey is the peer's long-term CURVE public key once the
	// handshake has proven it (see Peer.CurveKey), all zero before: a
	// client refused by Authorize (ErrUnauthorized) carries the key that
	// was refused, for the operator to decide whether to allow it.
	CurveKey [32]byte
	Err      error
}

// HasCurveKey reports whether the event carries a proven CURVE key.
func (e Event) HasCurveKey() bool { return e.CurveKey != [32]byte{} }
