package collector

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/zmqlog/zmqlog/collector/vlsink"
	"gopkg.in/natefinch/lumberjack.v2"
)

// store appends entries, one per line, to a rotated file and optionally
// to a second writer (stdout). Lines are buffered and written out when
// 256 KiB have gathered, every flush interval, and at close; each write
// holds whole lines, so rotation never splits one. A failed write is
// never silent: the entries it held are counted as failed and the error
// reported; the next write tries again.
//
// The rotating writer refuses any write larger than the file's maximum
// size, so no write is: the buffer goes out before a line that would take
// it past that size, and a line that could never fit a file on its own is
// refused alone, counted (tooLarge) and reported, costing no other entry.
//
// The store owns its lock: callers that must keep something of their own
// consistent with the lines (a batch's stream position, a state snapshot)
// do it inside appendBatch or flushThen, which run it under that lock.
type store struct {
	mu      sync.Mutex         // guards everything below; only the store's methods take it
	file    *lumberjack.Logger // nil: no file
	fileBuf []byte             // whole lines only: lumberjack rotates between writes, so a write must never end inside a line
	pending int                // entries in fileBuf, not yet known to be on disk
	stored  uint64             // entries known written to the file
	failed  uint64             // entries lost to write errors
	// maxWrite is the file's maximum size: lumberjack fails a larger write.
	maxWrite int64
	tooLarge uint64        // entries longer than maxWrite, never written to the file
	echo     *bufio.Writer // nil: no echo
	echoTo   io.Writer
	report   func(kind string, err error)
	// sink, if set, is told of each write to the file, or given each line
	// when there is no file; stamp, set by appendBatch, is the producer
	// written into each line of the batch (see vlsink.AppendLine).
	sink        storeSink
	stamp       []byte
	storedTotal atomic.Uint64 // stored, readable without the lock
}

// storeSink is what the store tells the VictoriaLogs sink.
type storeSink interface {
	Written()                 // lines went to the file
	Offer(stamp, line []byte) // no file: a line to send
}

const storeBufferSize = 256 << 10

func openStore(cfg *Config, report func(string, error)) (*store, error) {
	s := &store{report: report}
	if cfg.File != "" {
		// Fail now, with a clear message, rather than at the first entry.
		if err := os.MkdirAll(filepath.Dir(cfg.File), 0o755); err != nil {
			return nil, fmt.Errorf("store file %s: %w", cfg.File, err)
		}
		f, err := os.OpenFile(cfg.File, os.O_CREATE|os.O_APPEND|os.O_WRONLY, cfg.FileMode)
		if err != nil {
			return nil, fmt.Errorf("store file: %w", err)
		}
		// Set the mode exactly, on a new file (past the umask) and on one
		// an older version created 0644: lumberjack gives each file it
		// rotates in, and each compressed backup, the store file's mode.
		// Not on a device such as /dev/stdout.
		if fi, serr := f.Stat(); serr == nil && fi.Mode().IsRegular() && fi.Mode().Perm() != cfg.FileMode {
			err = f.Chmod(cfg.FileMode)
		}
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("store file %s: %w", cfg.File, err)
		}
		s.file = &lumberjack.Logger{
			Filename:   cfg.File,
			MaxSize:    cfg.MaxSizeMB,
			MaxBackups: cfg.MaxBackups,
			MaxAge:     cfg.MaxAgeDays,
			Compress:   cfg.Compress,
		}
		s.fileBuf = make([]byte, 0, storeBufferSize+64<<10)
		s.maxWrite = int64(cfg.MaxSizeMB) << 20 // lumberjack's megabyte
	}
	if cfg.Stdout != nil {
		s.echo, s.echoTo = bufio.NewWriterSize(cfg.Stdout, 64<<10), cfg.Stdout
	}
	return s, nil
}

// appendBatch runs fill under the store's lock, with add appending one
// entry. Whatever fill records beside the entries (the batch's stream
// position) is therefore never seen by flushThen without them, nor they
// without it.
//
// stamp, if not nil, is written into each line (see vlsink.Stamp).
func (s *store) appendBatch(stamp []byte, fill func(add func(line []byte))) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stamp = stamp
	fill(s.writeLocked)
	s.stamp = nil
}

// flushThen writes out what is buffered and then runs then, both under
// the store's lock, so then sees exactly what has been handed to the
// file: no appendBatch is half done.
func (s *store) flushThen(then func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
	then()
}

// writeLocked appends one entry; the caller holds mu.
func (s *store) writeLocked(line []byte) {
	if s.file != nil {
		s.bufferLineLocked(line)
	} else if s.sink != nil {
		s.sink.Offer(s.stamp, line)
	}
	if s.echo != nil {
		s.echo.Write(line)
		if err := s.echo.WriteByte('\n'); err != nil {
			s.echoFailedLocked(err)
		}
	}
}

// bufferLineLocked adds line to the file's buffer, keeping every write
// within maxWrite (see store).
func (s *store) bufferLineLocked(line []byte) {
	n := int64(vlsink.StampedLen(s.stamp, line)) + 1
	if n > s.maxWrite {
		s.tooLarge++
		s.report("too_large", fmt.Errorf("did not store an entry of %d bytes in %s: it is larger than the file may grow (%d MB)", len(line), s.file.Filename, s.maxWrite>>20))
		return
	}
	if int64(len(s.fileBuf))+n > s.maxWrite {
		s.writeFileLocked()
	}
	s.pending++
	s.fileBuf = append(vlsink.AppendLine(s.fileBuf, s.stamp, line), '\n')
	if len(s.fileBuf) >= storeBufferSize {
		s.writeFileLocked()
	}
}

// writeFileLocked writes the buffered lines out in one write. On failure
// the entries it held are counted as lost and reported.
func (s *store) writeFileLocked() {
	if s.pending == 0 {
		return
	}
	if _, err := s.file.Write(s.fileBuf); err != nil {
		s.failed += uint64(s.pending)
		s.report("store", fmt.Errorf("writing %d entries to %s failed: %w", s.pending, s.file.Filename, err))
	} else {
		s.stored += uint64(s.pending)
		s.storedTotal.Store(s.stored)
		if s.sink != nil {
			s.sink.Written()
		}
	}
	s.pending = 0
	s.fileBuf = s.fileBuf[:0]
}

func (s *store) flushLocked() {
	if s.file != nil {
		s.writeFileLocked()
	}
	if s.echo != nil {
		if err := s.echo.Flush(); err != nil {
			s.echoFailedLocked(err)
		}
	}
}

// echoFailedLocked reports a failed write to the echo (stdout) and starts
// its buffer afresh; the file is unaffected.
func (s *store) echoFailedLocked(err error) {
	s.report("stdout", fmt.Errorf("writing stored lines to stdout failed: %w", err))
	s.echo.Reset(s.echoTo)
}

func (s *store) counts() (stored, failed, tooLarge uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stored, s.failed, s.tooLarge
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
