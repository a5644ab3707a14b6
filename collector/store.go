package collector

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"gopkg.in/natefinch/lumberjack.v2"
)

// store appends entries, one per line, to a rotated file and optionally
// to a second writer (stdout). Writes are buffered and flushed every
// flush interval and at Close. A failed write is never silent: the
// entries it held are counted as failed and the error reported; the next
// write tries again.
type store struct {
	mu       sync.Mutex
	file     *lumberjack.Logger // nil: no file
	fileBuf  *bufio.Writer
	pending  int           // entries in fileBuf, not yet known to be on disk
	stored   uint64        // entries known written to the file
	failed   uint64        // entries lost to write errors
	echo     *bufio.Writer // nil: no echo
	echoTo   io.Writer
	echoErrs uint64
	report   func(kind string, err error)
}

const storeBufferSize = 256 << 10

func openStore(cfg *Config, report func(string, error)) (*store, error) {
	s := &store{report: report}
	if cfg.File != "" {
		// Fail now, with a clear message, rather than at the first entry.
		if err := os.MkdirAll(filepath.Dir(cfg.File), 0o755); err != nil {
			return nil, fmt.Errorf("store file %s: %w", cfg.File, err)
		}
		f, err := os.OpenFile(cfg.File, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, fmt.Errorf("store file: %w", err)
		}
		f.Close()
		s.file = &lumberjack.Logger{
			Filename:   cfg.File,
			MaxSize:    cfg.MaxSizeMB,
			MaxBackups: cfg.MaxBackups,
			MaxAge:     cfg.MaxAgeDays,
			Compress:   cfg.Compress,
		}
		s.fileBuf = bufio.NewWriterSize(s.file, storeBufferSize)
	}
	if cfg.Stdout != nil {
		s.echo, s.echoTo = bufio.NewWriterSize(cfg.Stdout, 64<<10), cfg.Stdout
	}
	return s, nil
}

// writeLocked appends one entry; the caller holds mu.
func (s *store) writeLocked(line []byte) {
	if s.fileBuf != nil {
		s.pending++
		s.fileBuf.Write(line)
		if err := s.fileBuf.WriteByte('\n'); err != nil {
			s.failLocked(err)
		}
	}
	if s.echo != nil {
		s.echo.Write(line)
		if err := s.echo.WriteByte('\n'); err != nil {
			s.echoErrs++
			s.echo.Reset(s.echoTo)
		}
	}
}

// failLocked counts what the buffer held as lost and starts afresh.
func (s *store) failLocked(err error) {
	s.failed += uint64(s.pending)
	s.report("store", fmt.Errorf("writing %d entries to %s failed: %w", s.pending, s.file.Filename, err))
	s.pending = 0
	s.fileBuf.Reset(s.file)
}

// flush writes buffered entries out.
func (s *store) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
}

func (s *store) flushLocked() {
	if s.fileBuf != nil && s.pending > 0 {
		if err := s.fileBuf.Flush(); err != nil {
			s.failLocked(err)
		} else {
			s.stored += uint64(s.pending)
			s.pending = 0
		}
	}
	if s.echo != nil {
		if err := s.echo.Flush(); err != nil {
			s.echoErrs++
			s.echo.Reset(s.echoTo)
		}
	}
}

func (s *store) counts() (stored, failed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stored, s.failed
}

func (s *store) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
	if s.file != nil {
		return s.file.Close()
	}
	return nil
}
