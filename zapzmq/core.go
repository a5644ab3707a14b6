package zapzmq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/topic"
)

// Compile-time checks that Core is a zapcore.Core and tells zap its level.
var (
	_ zapcore.Core         = (*Core)(nil)
	_ zapcore.LevelEnabler = (*Core)(nil)
)

// Core is a zapcore.Core that encodes entries on the caller's goroutine
// and ships them to a collector. It is built like zap's own ioCore: the
// level enabler is embedded, With clones the encoder, Write encodes, hands
// a copy of the bytes to the shipper and frees zap's buffer, and entries
// above Error (DPanic, Panic, Fatal) are flushed before Write returns.
type Core struct {
	zapcore.LevelEnabler
	enc          zapcore.Encoder
	ship         *zmqlog.Shipper
	topics       *levelTopics
	flushTimeout time.Duration
	owned        bool // Close closes the shipper: NewCore made it
}

// Option configures a Core.
type Option interface {
	apply(*settings)
}

type optionFunc func(*settings)

func (f optionFunc) apply(s *settings) { f(s) }

type settings struct {
	enc          zapcore.Encoder
	level        zapcore.LevelEnabler
	app          string
	shipperOpts  []zmqlog.Option
	flushTimeout time.Duration
}

// WithEncoder sets the encoder (default: zap's production JSON encoder,
// zap.NewProductionEncoderConfig). A console encoder works too.
func WithEncoder(enc zapcore.Encoder) Option {
	return optionFunc(func(s *settings) { s.enc = enc })
}

// WithLevel sets which levels the core ships (default: Debug and above).
// Pass a zap.AtomicLevel to change it while the program runs.
func WithLevel(l zapcore.LevelEnabler) Option {
	return optionFunc(func(s *settings) { s.level = l })
}

// WithApp names the application: it goes into every topic ("ERROR.app"),
// so subscribers can select one app, and into the batch header. With
// NewCore it also names the shipper's producer.
func WithApp(name string) Option {
	return optionFunc(func(s *settings) { s.app = name })
}

// WithShipperOptions passes options to the shipper NewCore creates
// (budget, linger, error handler, ...). NewShipperCore, whose shipper is
// made already, refuses it.
func WithShipperOptions(opts ...zmqlog.Option) Option {
	return optionFunc(func(s *settings) { s.shipperOpts = append(s.shipperOpts, opts...) })
}

// WithFlushTimeout bounds how long Sync, Close, and Write for entries
// above Error wait for queued entries to reach a collector (default 5s; 0:
// they do not wait). It must not be negative. The same name and rule as
// zmqlog.WithFlushTimeout and slogzmq's Options.FlushTimeout.
func WithFlushTimeout(d time.Duration) Option {
	return optionFunc(func(s *settings) { s.flushTimeout = d })
}

func newSettings(opts []Option) (settings, error) {
	s := settings{level: zapcore.DebugLevel, flushTimeout: 5 * time.Second}
	for _, o := range opts {
		o.apply(&s)
	}
	if s.enc == nil {
		s.enc = zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	}
	if s.flushTimeout < 0 {
		return s, fmt.Errorf("zapzmq: flush timeout %v: must not be negative", s.flushTimeout)
	}
	return s, nil
}

// NewCore returns a core shipping to endpoint (one collector, or several
// separated by commas) through a shipper of its own, which Close closes.
// It returns at once; only a malformed endpoint or option is an error.
func NewCore(endpoint string, opts ...Option) (*Core, error) {
	s, err := newSettings(opts)
	if err != nil {
		return nil, err
	}
	shipperOpts := s.shipperOpts
	if s.app != "" {
		shipperOpts = append([]zmqlog.Option{zmqlog.WithApp(s.app)}, shipperOpts...)
	}
	ship, err := zmqlog.NewShipper(endpoint, shipperOpts...)
	if err != nil {
		return nil, err // zmqlog's error names the endpoint or option
	}
	c := newCore(ship, s)
	c.owned = true
	return c, nil
}

// NewShipperCore returns a core over an existing shipper, so that zap and
// slog in one program share one set of collector connections. Closing the
// core does not close the shipper. An option that cannot apply to a
// shipper made already (WithShipperOptions) is an error, not ignored.
func NewShipperCore(ship *zmqlog.Shipper, opts ...Option) (*Core, error) {
	s, err := newSettings(opts)
	if err != nil {
		return nil, err
	}
	if len(s.shipperOpts) > 0 {
		return nil, errors.New("zapzmq: WithShipperOptions has no effect on a shipper made already; give its options to zmqlog.NewShipper")
	}
	return newCore(ship, s), nil
}

func newCore(ship *zmqlog.Shipper, s settings) *Core {
	return &Core{
		LevelEnabler: s.level,
		enc:          s.enc,
		ship:         ship,
		topics:       newLevelTopics(s.app),
		flushTimeout: s.flushTimeout,
	}
}

// Tee returns the zap.Option that adds c to a logger someone already has,
// leaving its existing output as it was:
//
//	logger = logger.WithOptions(zapzmq.Tee(core))
func Tee(c zapcore.Core) zap.Option {
	return zap.WrapCore(func(existing zapcore.Core) zapcore.Core {
		return zapcore.NewTee(existing, c)
	})
}

// Shipper returns the shipper the core ships through, for its Stats.
func (c *Core) Shipper() *zmqlog.Shipper { return c.ship }

// Level reports the minimum enabled level, as zap's own cores do.
func (c *Core) Level() zapcore.Level { return zapcore.LevelOf(c.LevelEnabler) }

// With returns a core that adds fields to every entry; they are encoded
// once, here.
func (c *Core) With(fields []zapcore.Field) zapcore.Core {
	clone := *c
	clone.enc = c.enc.Clone()
	clone.owned = false
	for _, f := range fields {
		f.AddTo(clone.enc)
	}
	return &clone
}

// Check adds the core to ce if the level is enabled.
func (c *Core) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

// Write encodes the entry, ships a copy of the bytes (without the line
// ending: the collector stores one entry per line) and returns. It does
// not wait for the network, except for entries above Error, which are
// flushed (bounded by the sync timeout) since the program may be about to
// exit.
func (c *Core) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	buf, err := c.enc.EncodeEntry(ent, fields)
	if err != nil {
		return err
	}
	c.ship.Ship(c.topics.of(ent.Level), bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	buf.Free()
	if ent.Level > zapcore.ErrorLevel {
		_ = c.Sync()
	}
	return nil
}

// Sync waits, at most the sync timeout, until every entry written so far
// has reached a collector connection.
func (c *Core) Sync() error {
	ctx, cancel := context.WithTimeout(context.Background(), c.flushTimeout)
	defer cancel()
	if err := c.ship.Flush(ctx); err != nil {
		return fmt.Errorf("zapzmq: %w", err)
	}
	return nil
}

// Close flushes (bounded) and closes the shipper if NewCore created it.
// Cores made by With share the shipper and do not close it.
func (c *Core) Close() error {
	if !c.owned {
		return c.Sync()
	}
	return c.ship.Close()
}

// Shutdown is Close with the caller's deadline instead of the sync
// timeout: it flushes until ctx ends, then closes the shipper if NewCore
// created it; with a context that has already ended it returns at once,
// counting what was still queued as dropped. Cores made by With only
// flush.
func (c *Core) Shutdown(ctx context.Context) error {
	var err error
	if c.owned {
		err = c.ship.Shutdown(ctx)
	} else {
		err = c.ship.Flush(ctx)
	}
	if err != nil {
		return fmt.Errorf("zapzmq: %w", err)
	}
	return nil
}

// levelTopics holds the topic string of each zap level, made once.
type levelTopics struct {
	app   string
	byLvl [zapcore.FatalLevel - zapcore.DebugLevel + 1]string
}

func newLevelTopics(app string) *levelTopics {
	t := &levelTopics{app: app}
	for l := zapcore.DebugLevel; l <= zapcore.FatalLevel; l++ {
		t.byLvl[l-zapcore.DebugLevel] = topic.Make(l.CapitalString(), app)
	}
	return t
}

func (t *levelTopics) of(l zapcore.Level) string {
	if l >= zapcore.DebugLevel && l <= zapcore.FatalLevel {
		return t.byLvl[l-zapcore.DebugLevel]
	}
	return topic.Make(l.CapitalString(), t.app)
}
