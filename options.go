package zmqlog

import (
	"fmt"
	"time"

	"github.com/zmqlog/zmqlog/internal/zsock"
)

// Option configures a Shipper.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	app, host     string
	budget        int
	batchSize     int
	maxEntry      int
	linger        time.Duration
	pace          time.Duration // least time between two partly filled batches
	closeTimeout  time.Duration
	overflow      overflowMode
	blockTimeout  time.Duration
	onError       func(error)
	errorInterval time.Duration
	reconnectMin  time.Duration
	reconnectMax  time.Duration
	writeTimeout  time.Duration
	hostSetByUser bool
	maxEntrySet   bool
	curve         *zsock.CurveConfig // nil: NULL security
}

func defaultConfig() config {
	return config{
		budget:        8 << 20,
		batchSize:     64 << 10,
		maxEntry:      1 << 20,
		linger:        5 * time.Millisecond,
		pace:          50 * time.Millisecond,
		closeTimeout:  5 * time.Second,
		errorInterval: time.Second,
	}
}

// WithApp names the application in every batch and, through zapzmq and
// slogzmq, in every topic. Default: the program's file name.
func WithApp(name string) Option {
	return optionFunc(func(c *config) error { c.app = name; return nil })
}

// WithHost overrides the host name batches carry. Default: os.Hostname.
func WithHost(name string) Option {
	return optionFunc(func(c *config) error { c.host, c.hostSetByUser = name, true; return nil })
}

// WithBudget bounds the memory holding entries not yet written to a
// collector, in bytes (default 8 MiB, at least two batches). An eighth of
// it is kept for ERROR-and-above entries, so a flood of debug entries
// cannot cost the error that explains it. When it is full, Ship drops
// the entry it was given (and counts it) unless WithDropOldest or
// WithBlock chooses otherwise; the last of these options given wins.
func WithBudget(bytes int) Option {
	return optionFunc(func(c *config) error {
		if bytes <= 0 {
			return fmt.Errorf("budget %d bytes: must be positive", bytes)
		}
		c.budget = bytes
		return nil
	})
}

// WithBatchSize sets the largest batch (one ZeroMQ frame) in bytes
// (default 64 KiB). An entry larger than a batch travels alone.
func WithBatchSize(bytes int) Option {
	return optionFunc(func(c *config) error {
		if bytes < 1024 {
			return fmt.Errorf("batch size %d bytes: must be at least 1024", bytes)
		}
		c.batchSize = bytes
		return nil
	})
}

// WithMaxEntrySize sets the largest entry Ship accepts (default 1 MiB);
// larger ones are dropped and counted as too large.
func WithMaxEntrySize(bytes int) Option {
	return optionFunc(func(c *config) error {
		if bytes <= 0 {
			return fmt.Errorf("max entry size %d bytes: must be positive", bytes)
		}
		c.maxEntry, c.maxEntrySet = bytes, true
		return nil
	})
}

// WithLinger sets how long an entry may wait for its batch to fill before
// the batch is sent anyway (default 5ms), when the last batch left longer
// ago than the pace (WithPace); otherwise the batch waits for the pace.
func WithLinger(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("linger %v: must be positive", d)
		}
		c.linger = d
		return nil
	})
}

// WithPace sets the least time between two batches that leave partly
// filled (default 50ms; 0 turns it off). A program logging steadily at a
// low rate would otherwise send one message per entry or two, every
// linger, and a collector's cost follows its messages, not its entries:
// with a pace, entries that come while the last batch is less than the
// pace old wait for it and leave together. An entry after a quiet spell
// (the last batch older than the pace) still leaves after the linger
// alone, and a full batch or a Flush never waits for the pace. So an
// entry waits at most the pace, plus the linger after a quiet spell.
func WithPace(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return fmt.Errorf("pace %v: must not be negative", d)
		}
		c.pace = d
		return nil
	})
}

// WithFlushTimeout bounds how long Close waits for queued entries to be
// written (default 5s; 0: Close does not wait). zapzmq's option and
// slogzmq's Options.FlushTimeout have the same name and rule.
func WithFlushTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return fmt.Errorf("flush timeout %v: must not be negative", d)
		}
		c.closeTimeout = d
		return nil
	})
}

// WithDropOldest makes a full budget evict the oldest queued batch rather
// than refuse the newest entry. Batches holding ERROR-and-above entries
// are evicted last.
func WithDropOldest() Option {
	return optionFunc(func(c *config) error { c.overflow = dropOldest; return nil })
}

// WithBlock makes Ship wait up to timeout for room when the budget is
// full, then drop. The caller is held up: use it only where losing
// entries is worse than slowing down. Waiting callers get room in the
// order they began to wait (ERROR-and-above entries in a line of their
// own, so waiting debug callers cannot hold up an error the reserve has
// room for), and every one of them re-checks as soon as room appears.
func WithBlock(timeout time.Duration) Option {
	return optionFunc(func(c *config) error {
		if timeout <= 0 {
			return fmt.Errorf("block timeout %v: must be positive", timeout)
		}
		c.overflow, c.blockTimeout = block, timeout
		return nil
	})
}

// WithErrorHandler sets a function told, at most once per interval
// (default one second, see WithErrorInterval), what went wrong since the
// last call: entries dropped and why, collectors that cannot be reached.
// It is called from the shipper's goroutine and should return quickly.
// The shipper never writes to a log or to stderr by itself.
func WithErrorHandler(f func(error)) Option {
	return optionFunc(func(c *config) error { c.onError = f; return nil })
}

// WithErrorInterval sets the least time between two error handler calls.
func WithErrorInterval(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("error interval %v: must be positive", d)
		}
		c.errorInterval = d
		return nil
	})
}

// WithReconnect bounds the backoff between attempts to reach a collector
// (defaults 100ms and 5s); each wait is jittered.
func WithReconnect(min, max time.Duration) Option {
	return optionFunc(func(c *config) error {
		if min <= 0 || max < min {
			return fmt.Errorf("reconnect %v..%v: want 0 < min <= max", min, max)
		}
		c.reconnectMin, c.reconnectMax = min, max
		return nil
	})
}

// WithWriteTimeout sets how long a collector connection may accept no
// bytes before it counts as dead and its unsent batches move to another
// collector (default 15s).
func WithWriteTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("write timeout %v: must be positive", d)
		}
		c.writeTimeout = d
		return nil
	})
}

func (c *config) validate(headerLen int) error {
	if c.batchSize < headerLen+64 {
		return fmt.Errorf("batch size %d bytes leaves no room after the %d-byte batch header", c.batchSize, headerLen)
	}
	if c.budget < 2*c.batchSize {
		return fmt.Errorf("budget %d bytes: must hold at least two batches (%d bytes)", c.budget, 2*c.batchSize)
	}
	if c.maxEntry > c.budget/2 {
		if c.maxEntrySet {
			return fmt.Errorf("max entry size %d bytes: must be at most half the budget (%d bytes)", c.maxEntry, c.budget)
		}
		c.maxEntry = c.budget / 2
	}
	return nil
}
