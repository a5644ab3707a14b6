package collector

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/zmqlog/zmqlog/collector/vlsink"
	"github.com/zmqlog/zmqlog/internal/zsock"
	"github.com/zmqlog/zmqlog/topic"
)

// Config configures a collector. New says what is wrong with a bad one.
//
// There are two ways to write one, and a zero field means something
// different in each:
//
//   - Start from [Defaults] and change what you need. Defaults holds every
//     default, and New takes such a Config exactly as it is: a field set to
//     zero means zero. Drain 0 stops at once, Limits.IdlePing 0 sends no
//     pings, MaxBackups and MaxAgeDays 0 keep every rotated file,
//     StateFile "" keeps no positions; a zero that nothing could work with
//     (MaxSizeMB, SubscriberQueue, MaxMessageSize, Heartbeat,
//     FlushInterval, FileMode, a limit other than IdlePing) is an error.
//     zmqcollect builds its Config this way, so its flags' defaults are
//     Defaults' values and its 0 reaches the collector as 0.
//   - Write a literal (Config{File: "app.jsonl"}). Each zero (or negative)
//     field then means its default, the value Defaults holds; to turn
//     Drain or Limits.IdlePing off, or keep every rotated file
//     (MaxBackups), in a literal, make the field negative.
type Config struct {
	// Pull is where apps send (a PULL socket binds here). Default
	// tcp://127.0.0.1:5557; tcp://*:5557 accepts from other hosts.
	Pull string
	// Pub is where subscribers connect (a PUB socket binds here). Default
	// tcp://127.0.0.1:5558. NoPub turns publishing off.
	Pub   string
	NoPub bool
	// File is the store: one entry per line, appended, rotated by size.
	// Default logs/zmqlog.jsonl. NoFile (or "" in a Config from Defaults)
	// turns storing off.
	File   string
	NoFile bool
	// MaxSizeMB, MaxBackups, MaxAgeDays and Compress rotate the file
	// (lumberjack's settings). MaxSizeMB defaults to 100. MaxBackups, the
	// rotated files kept, defaults to 10, so the store's disk is bounded
	// (SECURITY.md) as zmqcollect's always was; 0 keeps all in a Config
	// from Defaults, as a negative value does in a literal. (Before, a
	// literal's 0 kept all: set it negative for that now.) MaxAgeDays 0
	// keeps rotated files whatever their age. An entry larger
	// than MaxSizeMB cannot be stored; it alone is refused, counted in
	// Stats.StoreTooLarge and reported.
	MaxSizeMB, MaxBackups, MaxAgeDays int
	Compress                          bool
	// StateFile, if set, keeps each producer stream's position across
	// restarts (see state.go); without it a restarted collector counts
	// everything producers sent before as lost. zmqcollect sets it to the
	// store file's name plus ".state".
	StateFile string
	// FileMode is the permission of the files the collector writes: the
	// store, its rotated and compressed backups, and the state file.
	// Default 0600: log entries often hold what only their owner should
	// read. Only permission bits (up to 0777) may be set, and the owner
	// must keep read and write. An existing store file is set to it at
	// start; rotated and compressed files take the store file's mode (the
	// process umask applies to them, as to any file created).
	FileMode os.FileMode
	// Stdout, if set, receives every stored line too.
	Stdout io.Writer
	// Forward, if set, is another collector to send everything on to, in
	// the same batch format (tiers: one collector per host, one central),
	// or several, comma-separated: each batch then goes to one of them.
	// Batches are renumbered for the collector they go to, so each one's
	// gaps count only what was lost on the way from this one (PROTOCOL.md,
	// "Tiers").
	Forward string
	// CurveSecret, if set, is the collector's secret certificate
	// (NAME.key_secret, mode 0600, as `zmqcollect keygen` or pyzmq's
	// zmq.auth.create_certificates write it): both ports then speak CURVE
	// only (RFC 26: encrypted, and each client proves its key). Producers
	// and subscribers need the matching public certificate (NAME.key).
	// It needs CurveClients or CurveAnyClient to say which clients to take.
	CurveSecret string
	// CurveClients is a directory of the allowed clients' public
	// certificates (*.key), read again when it changes; a client whose
	// key is not there is refused during the handshake and counted
	// (peers_rejected_total{reason="unauthorized"}).
	CurveClients string
	// CurveTails, if set, is a directory of the public certificates of
	// the tails allowed to subscribe on the PUB port; then CurveClients
	// (or CurveAnyClient) applies to the PULL port only. Without it both
	// ports take the same clients, and an app's key can also read every
	// app's entries: give tails their own list when apps' hosts are less
	// trusted than the people who read the logs.
	CurveTails string
	// CurveAnyClient takes every client that completes the CURVE
	// handshake: traffic is encrypted, but anyone who has the collector's
	// public key may send entries and read the stream.
	CurveAnyClient bool
	// ForwardCurveServer and ForwardCurveSecret make the forward socket
	// speak CURVE: the next tier's public certificate, and this
	// collector's secret certificate as its client.
	ForwardCurveServer, ForwardCurveSecret string
	// VictoriaLogs, if set, is a VictoriaLogs server to send every entry
	// to (http://127.0.0.1:9428), or several insert nodes of a cluster,
	// comma-separated, balanced with failover. The store file is then the
	// sink's write-ahead log: each line carries its producer (see
	// vlsink.ProducerKey), and a cursor beside it (the store file's name
	// plus ".vlcursor") says how far VictoriaLogs has acknowledged, so an
	// outage or a restart loses nothing the rotated files still hold.
	// Without a store file the sink holds up to 64 MiB in memory and
	// counts what it drops. See the package vlsink.
	VictoriaLogs string
	// VictoriaLogsDrain bounds how long Run, stopping, goes on sending
	// to VictoriaLogs once the store is written out; what is left waits
	// in the store for the next start. Default 5s; 0 (from Defaults) or
	// negative: stop at once.
	VictoriaLogsDrain time.Duration
	// VictoriaLogsGzip compresses requests to VictoriaLogs: many times
	// fewer bytes on the wire (log lines repeat themselves) for more of
	// the sink's CPU (the README has the figures). Worth it over a slow or
	// metered link; on a LAN it buys nothing.
	VictoriaLogsGzip bool
	// Log receives the collector's own messages (failed writes, rejected
	// peers), each kind at most once per second. Default: discarded.
	Log *slog.Logger
	// SubscriberQueue is how many messages each subscriber may have
	// waiting before it misses some (counted). Default 10000.
	SubscriberQueue int
	// MaxMessageSize bounds one incoming message. Default 4 MiB: a
	// shipper's batches are at most 64 KiB, or one entry of up to its
	// WithMaxEntrySize (1 MiB by default); a peer's message in progress
	// can hold up to this much of the receive budget.
	MaxMessageSize int64
	// exact: this Config came from Defaults, so its zero fields mean zero
	// (see Config).
	exact bool
	// Limits bounds what peers on the network can make the collector
	// hold; Defaults().Limits holds the defaults, which SECURITY.md lists.
	Limits Limits
	// Heartbeat is how often the collector publishes its stats on the
	// heartbeat topic. Default 1s.
	Heartbeat time.Duration
	// Drain bounds how long Run goes on reading, once its context ends,
	// what producers have already written; it stops sooner when nothing
	// arrives for 100ms. Default 2s; 0 (from Defaults) or negative: stop
	// at once.
	Drain time.Duration
	// FlushInterval is how often the store's buffer is written out.
	// Default 200ms.
	FlushInterval time.Duration
	// HistoryBytes bounds the recent entries kept in memory for late
	// joiners (Collector.History: the --http page, zmqtail --since).
	// Default 16 MiB; 0 (from Defaults) or negative keeps none.
	HistoryBytes int64
}

// Limits bounds, per port, what the collector's peers can make it hold:
// connections, memory, and time. Every peer that hits a limit is dropped
// and counted (zmqlog_collector_peers_rejected_total, by port and
// reason). Its defaults are Defaults().Limits; in a Config literal a zero
// field means its default (see Config).
type Limits struct {
	// MaxConns bounds the connections a port holds open. Default 4096.
	// Each is a file descriptor: keep twice it (two ports) and the
	// program's own files within its open-file limit, or peers can take
	// the descriptors the store needs (zmqcollect lowers the default to
	// fit; SECURITY.md, "The connection cap fits the open-file limit").
	MaxConns int
	// MaxConnsPerHost bounds the connections one IP address holds open on
	// a port, so one host cannot take every slot. Default 256.
	MaxConnsPerHost int
	// ReceiveBudget bounds the bytes of received messages the PULL port
	// holds before they are stored; ReceiveBudgetPerHost is one host's
	// share. Past them, connections stop reading (TCP pushes back on the
	// producer). Defaults 16 MiB and 4 MiB, at least MaxMessageSize.
	ReceiveBudget, ReceiveBudgetPerHost int64
	// IdlePing: a peer that has sent nothing for this long is sent a ZMTP
	// PING, and dropped (as silent) if nothing arrives within as long
	// again. libzmq and zmqlog's sockets answer by themselves, so idle
	// producers and subscribers stay. Default 15s; 0 (from Defaults) or
	// negative turns it off.
	IdlePing time.Duration
	// MaxSubscriptions bounds the subscriptions one subscriber holds, and
	// MaxSubscriptionBytes the sum of their topics' lengths; past either
	// it is disconnected. Defaults 1024 and 64 KiB.
	MaxSubscriptions, MaxSubscriptionBytes int
	// SubscriberQueueBytes bounds the bytes queued for one subscriber,
	// PublishBudget those queued for all of them; past either, entries
	// are dropped for the subscriber over it and counted (as past
	// Config.SubscriberQueue messages). Entries are queued without a
	// copy, as parts of the batch they came in, and a queue holding any
	// entry of a batch counts the whole batch (once); where that does not
	// fit, or the subscriber takes little of each batch, it gets copies.
	// Defaults 4 MiB and 16 MiB.
	SubscriberQueueBytes, PublishBudget int64
	// SubscriptionBudget bounds the memory all subscribers' subscriptions
	// hold (each distinct topic of a subscriber costs twice its length
	// plus 384 bytes); a subscriber that would pass it is disconnected.
	// Default 16 MiB, about 40,000 short subscriptions.
	SubscriptionBudget int64
	// HandshakeRate bounds, per second, the CURVE handshakes one host may
	// start on a port, after a burst of MaxConnsPerHost (a fleet
	// reconnecting after a restart fits in it): a HELLO costs its sender
	// nothing and the collector two key agreements. Past it, connections
	// are closed before any cryptography and counted
	// (over_handshake_rate). Default 100; 0 (from Defaults) or negative
	// turns it off. Only CURVE ports over TCP are limited.
	HandshakeRate float64
}

// limitsOf reads the limits out of a socket's options: Defaults takes
// them from zsock.Defaults, so each default is stated once.
func limitsOf(o zsock.Options) Limits {
	return Limits{
		MaxConns: o.MaxConns, MaxConnsPerHost: o.MaxConnsPerHost,
		ReceiveBudget: o.RecvBudget, ReceiveBudgetPerHost: o.RecvBudgetPerHost,
		IdlePing:         o.Heartbeat,
		MaxSubscriptions: o.MaxSubscriptions, MaxSubscriptionBytes: o.MaxSubscriptionBytes,
		SubscriberQueueBytes: o.SendQueueBytes, PublishBudget: o.PublisherQueueBytes,
		SubscriptionBudget: o.MaxPublisherSubscriptionBytes,
		HandshakeRate:      o.HandshakeRate,
	}
}

// socketOptions applies the limits to a socket's options.
func (l Limits) socketOptions(o zsock.Options) zsock.Options {
	o.MaxConns = l.MaxConns
	o.MaxConnsPerHost = l.MaxConnsPerHost
	o.RecvBudget, o.RecvBudgetPerHost = l.ReceiveBudget, l.ReceiveBudgetPerHost
	o.Heartbeat, o.HeartbeatTimeout = l.IdlePing, l.IdlePing
	if l.IdlePing <= 0 {
		o.Heartbeat, o.HeartbeatTimeout = -1, -1 // the socket layer's zero would mean its default
	}
	o.MaxSubscriptions, o.MaxSubscriptionBytes = l.MaxSubscriptions, l.MaxSubscriptionBytes
	o.SendQueueBytes, o.PublisherQueueBytes = l.SubscriberQueueBytes, l.PublishBudget
	o.MaxPublisherSubscriptionBytes = l.SubscriptionBudget
	o.HandshakeRate = l.HandshakeRate
	if l.HandshakeRate <= 0 {
		o.HandshakeRate = -1 // off; the socket layer's zero would mean its default
	}
	return o
}

// Default endpoints and file.
const (
	DefaultPull = "tcp://127.0.0.1:5557"
	DefaultPub  = "tcp://127.0.0.1:5558"
	DefaultFile = "logs/zmqlog.jsonl"
)

// DefaultHistoryBytes is the default Config.HistoryBytes: at the
// benchmark's load the collector's RSS stays within 64 MiB with it.
const DefaultHistoryBytes = 16 << 20

// DefaultFileMode is the permission of the files a collector writes
// unless Config.FileMode says otherwise.
const DefaultFileMode os.FileMode = 0o600

// FileModeError is a Config.FileMode the collector cannot use.
type FileModeError struct {
	Mode   os.FileMode
	Reason string
}

func (e *FileModeError) Error() string {
	return fmt.Sprintf("file mode %#o: %s", uint32(e.Mode), e.Reason)
}

func checkFileMode(m os.FileMode) error {
	switch {
	case m&^os.ModePerm != 0:
		return &FileModeError{m, "only permission bits (0000 to 0777) may be set"}
	case m&0o600 != 0o600:
		return &FileModeError{m, "the owner must keep read and write (0600), or the collector could not reopen its own files"}
	}
	return nil
}

// HeartbeatTopic is the topic of the collector's heartbeat (see
// [topic.Heartbeat]).
const HeartbeatTopic = topic.Heartbeat

type endpoints struct {
	pull, pub zsock.Endpoint
	forward   []zsock.Endpoint
}

// Defaults returns a Config holding every default, which New takes as it
// is: change a field to zero and it means zero (see Config). Each of the
// collector's defaults is defined here and only here.
func Defaults() Config {
	return Config{
		Pull:              DefaultPull,
		Pub:               DefaultPub,
		File:              DefaultFile,
		MaxSizeMB:         100,
		MaxBackups:        10, // with MaxSizeMB, bounds the disk
		MaxAgeDays:        0,  // any age
		FileMode:          DefaultFileMode,
		SubscriberQueue:   10000,
		MaxMessageSize:    4 << 20,
		Limits:            limitsOf(zsock.Defaults()),
		Heartbeat:         time.Second,
		Drain:             2 * time.Second,
		FlushInterval:     200 * time.Millisecond,
		VictoriaLogsDrain: 5 * time.Second,
		HistoryBytes:      DefaultHistoryBytes,
		exact:             true,
	}
}

// orDefault gives a Config literal's zero (or negative) field its default.
func orDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// fillLiteral gives each zero field of a Config literal its default (see
// Config). Drain and IdlePing keep a negative value: it turns them off.
func (c *Config) fillLiteral() {
	d := Defaults()
	if c.Pull == "" {
		c.Pull = d.Pull
	}
	if c.Pub == "" {
		c.Pub = d.Pub
	}
	if c.File == "" {
		c.File = d.File
	}
	if c.FileMode == 0 {
		c.FileMode = d.FileMode
	}
	switch {
	case c.MaxBackups == 0:
		c.MaxBackups = d.MaxBackups
	case c.MaxBackups < 0:
		c.MaxBackups = 0 // keep all
	}
	c.MaxAgeDays = max(c.MaxAgeDays, 0) // lumberjack kept any age for a negative one
	orDefault(&c.MaxSizeMB, d.MaxSizeMB)
	orDefault(&c.SubscriberQueue, d.SubscriberQueue)
	orDefault(&c.MaxMessageSize, d.MaxMessageSize)
	orDefault(&c.Heartbeat, d.Heartbeat)
	orDefault(&c.FlushInterval, d.FlushInterval)
	if c.Drain == 0 {
		c.Drain = d.Drain
	}
	if c.VictoriaLogsDrain == 0 {
		c.VictoriaLogsDrain = d.VictoriaLogsDrain
	}
	if c.HistoryBytes == 0 {
		c.HistoryBytes = d.HistoryBytes
	}
	l, dl := &c.Limits, d.Limits
	orDefault(&l.MaxConns, dl.MaxConns)
	orDefault(&l.MaxConnsPerHost, dl.MaxConnsPerHost)
	orDefault(&l.ReceiveBudget, dl.ReceiveBudget)
	orDefault(&l.ReceiveBudgetPerHost, dl.ReceiveBudgetPerHost)
	if l.IdlePing == 0 {
		l.IdlePing = dl.IdlePing
	}
	if l.HandshakeRate == 0 {
		l.HandshakeRate = dl.HandshakeRate
	}
	orDefault(&l.MaxSubscriptions, dl.MaxSubscriptions)
	orDefault(&l.MaxSubscriptionBytes, dl.MaxSubscriptionBytes)
	orDefault(&l.SubscriberQueueBytes, dl.SubscriberQueueBytes)
	orDefault(&l.PublishBudget, dl.PublishBudget)
	orDefault(&l.SubscriptionBudget, dl.SubscriptionBudget)
	c.exact = true
}

// FieldError is a Config field set to a value the collector cannot work
// with, such as a zero size or limit in a Config from Defaults.
type FieldError struct {
	Field  string // as written in Go: MaxSizeMB, Limits.MaxConns
	Value  any
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("collector: Config.%s %v: %s", e.Field, e.Value, e.Reason)
}

// checkPositive says which field, if any, holds nothing the collector
// could work with.
func (c *Config) checkPositive() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxSizeMB", int64(c.MaxSizeMB)}, {"SubscriberQueue", int64(c.SubscriberQueue)}, {"MaxMessageSize", c.MaxMessageSize},
		{"Heartbeat", int64(c.Heartbeat)}, {"FlushInterval", int64(c.FlushInterval)},
		{"Limits.MaxConns", int64(c.Limits.MaxConns)}, {"Limits.MaxConnsPerHost", int64(c.Limits.MaxConnsPerHost)},
		{"Limits.ReceiveBudget", c.Limits.ReceiveBudget}, {"Limits.ReceiveBudgetPerHost", c.Limits.ReceiveBudgetPerHost},
		{"Limits.MaxSubscriptions", int64(c.Limits.MaxSubscriptions)}, {"Limits.MaxSubscriptionBytes", int64(c.Limits.MaxSubscriptionBytes)},
		{"Limits.SubscriberQueueBytes", c.Limits.SubscriberQueueBytes}, {"Limits.PublishBudget", c.Limits.PublishBudget},
		{"Limits.SubscriptionBudget", c.Limits.SubscriptionBudget},
	} {
		if f.v <= 0 {
			return &FieldError{f.name, f.v, "must be positive"}
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"MaxBackups", c.MaxBackups}, {"MaxAgeDays", c.MaxAgeDays}} {
		if f.v < 0 {
			return &FieldError{f.name, f.v, "must not be negative (0 keeps every rotated file)"}
		}
	}
	return nil
}

func (c *Config) applyDefaults() (endpoints, error) {
	var eps endpoints
	if !c.exact {
		c.fillLiteral()
	}
	if c.NoFile {
		c.File = ""
	}
	if err := checkFileMode(c.FileMode); err != nil {
		return eps, err
	}
	if err := c.checkPositive(); err != nil {
		return eps, err
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	var err error
	if eps.pull, err = zsock.ParseEndpoint(c.Pull, true); err != nil {
		return eps, &EndpointError{"Pull", err}
	}
	if !c.NoPub {
		if eps.pub, err = zsock.ParseEndpoint(c.Pub, true); err != nil {
			return eps, &EndpointError{"Pub", err}
		}
	}
	if c.Forward != "" {
		if eps.forward, err = zsock.ParseEndpoints(c.Forward); err != nil {
			return eps, &EndpointError{"Forward", err}
		}
	}
	if c.VictoriaLogs != "" {
		if _, err = vlsink.ParseURLs(c.VictoriaLogs); err != nil {
			return eps, &EndpointError{"VictoriaLogs", err}
		}
	}
	return eps, nil
}

// EndpointError is a malformed endpoint in a Config field.
type EndpointError struct {
	Field string // Pull, Pub, Forward or VictoriaLogs
	Err   error
}

func (e *EndpointError) Error() string {
	return fmt.Sprintf("collector: Config.%s: %v", e.Field, e.Err)
}
func (e *EndpointError) Unwrap() error { return e.Err }
