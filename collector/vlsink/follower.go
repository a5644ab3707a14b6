package vlsink

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// follower reads the store's files in order from a position on, in
// batches of whole lines, the way a database replays its write-ahead log.
//
// It holds open the file it reads and the files after it (it looks at
// the store every lookEvery while it is behind): when the rotation renames
// one, the follower knows it by identity; when the rotation's housekeeping
// removes or compresses one before the follower is through, the open file
// still reads to its end. Held removed files keep their disk in use, so
// their number is bounded (maxDeleted): past it the oldest one's lines
// are counted as lost (rotated_out) and it is let go, as the rotation
// meant. A file created and removed between two looks is lost uncounted
// (MaxBackups × MaxSizeMB written in 100ms); one missing at a restart is
// counted as a lost file.
type follower struct {
	live     string
	maxBatch int
	maxLine  int
	f        *os.File
	pos      position    // the next byte to read, in f
	held     []storeFile // the files after f, open, oldest first
	lastLook time.Time
	// buffer returns a buffer of n bytes for a batch (see Sink.buffer).
	buffer func(n int) []byte
	// lost is told what could not be sent: whole files that went
	// before the follower reached them, or entries it skipped.
	lost func(files int, bytes int64, entries uint64, reason string)
}

type readResult int

const (
	readBatch    readResult = iota // data holds whole lines
	readPartial                    // fewer lines than a batch wait: read again with force to take them
	readNothing                    // caught up with the live file
	readSwitched                   // moved on to the next file; the position is its start
)

// open starts following at start, or, with have false (no cursor yet), at
// the live file's end.
func (f *follower) open(start position, have bool) error {
	files, err := listStore(f.live)
	if err != nil {
		return fmt.Errorf("listing the store %s: %w", f.live, err)
	}
	if !have {
		if len(files) == 0 || files[len(files)-1].path != f.live {
			return fmt.Errorf("store file %s does not exist", f.live)
		}
		live := files[len(files)-1]
		return f.openAtListed(live, live.size, files)
	}
	for _, sf := range files {
		if sf.id == start.id() && sf.size >= start.Offset && f.matches(sf, start) {
			return f.openAtListed(sf, start.Offset, files)
		}
	}
	// The file the cursor names is gone: rotated out while the collector
	// was down. Send everything still there.
	if start.Offset > 0 || start.HeadLen > 0 {
		f.lost(1, 0, 0, "rotated_out")
	}
	if len(files) == 0 {
		return fmt.Errorf("store file %s does not exist", f.live)
	}
	return f.openAtListed(files[0], 0, files)
}

func (f *follower) openAtListed(sf storeFile, off int64, files []storeFile) error {
	if err := f.openAt(sf, off); err != nil {
		return err
	}
	f.hold(files)
	return nil
}

// matches reports whether sf begins with the bytes p was fingerprinted on.
func (f *follower) matches(sf storeFile, p position) bool {
	file, err := os.Open(sf.path)
	if err != nil {
		return false
	}
	defer file.Close()
	h, ok := fingerprint(file, p.HeadLen)
	return ok && h == p.Head
}

func (f *follower) openAt(sf storeFile, off int64) error {
	file, err := os.Open(sf.path)
	if err != nil {
		return err
	}
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return err
	}
	if f.f != nil {
		f.f.Close()
	}
	f.f = file
	f.pos = position{Path: sf.path, Dev: idOf(fi).Dev, Ino: idOf(fi).Ino, Offset: off}
	f.refreshHead(fi.Size())
	return nil
}

// refreshHead fingerprints the file's first bytes, as many as there are
// up to headLen: a store file only grows, so they never change.
func (f *follower) refreshHead(size int64) {
	if f.pos.HeadLen >= headLen || int64(f.pos.HeadLen) >= size {
		return
	}
	n := int(min(size, headLen))
	if h, ok := fingerprint(f.f, n); ok {
		f.pos.HeadLen, f.pos.Head = n, h
	}
}

func (f *follower) close() {
	if f.f != nil {
		f.f.Close()
		f.f = nil
	}
	for _, h := range f.held {
		h.file.Close()
	}
	f.held = nil
}

// lookEvery is how often a follower that is behind lists the store, to
// hold the files the rotation made since.
const lookEvery = 100 * time.Millisecond

// maxDeleted bounds the removed files the follower holds, the one it
// reads included: at most that many files' disk beyond what the rotation
// keeps. maxHeld bounds the files held at all (file descriptors).
const (
	maxDeleted = 2
	maxHeld    = 64
)

// hold opens the listed files after the one being read that it does not
// hold yet.
func (f *follower) hold(files []storeFile) {
	start := 0 // without ours among them (removed), every listed file is newer
	for i, sf := range files {
		if sf.id == f.pos.id() {
			start = i + 1
		}
	}
	for _, sf := range files[start:] {
		if sf.id == f.pos.id() || f.holds(sf.id) || len(f.held) >= maxHeld {
			continue
		}
		file, err := os.Open(sf.path)
		if err != nil {
			continue // removed since the listing
		}
		if fi, err := file.Stat(); err != nil || idOf(fi) != sf.id {
			file.Close()
			continue
		}
		sf.file = file
		f.held = append(f.held, sf)
	}
}

func (f *follower) holds(id fileID) bool {
	for _, h := range f.held {
		if h.id == id {
			return true
		}
	}
	return false
}

// look lists the store, holds what is new, and lets go of the oldest
// data while more than maxDeleted removed files are held; it reports
// whether the file being read was let go (the follower moved on).
func (f *follower) look() bool {
	if files, err := listStore(f.live); err == nil {
		f.hold(files)
	}
	moved := false
	for f.removedHeld() > maxDeleted && len(f.held) > 0 {
		// The oldest data is the rest of the file being read.
		n, _ := countLines(f.f, f.pos.Offset)
		size := f.pos.Offset
		if fi, err := f.f.Stat(); err == nil {
			size = fi.Size()
		}
		f.lost(0, size-f.pos.Offset, n, "rotated_out")
		f.switchToHeld()
		moved = true
	}
	return moved
}

// removedHeld counts the held files the rotation has removed.
func (f *follower) removedHeld() int {
	n := 0
	if removed(f.f) {
		n++
	}
	for _, h := range f.held {
		if removed(h.file) {
			n++
		}
	}
	return n
}

// switchToHeld moves to the oldest held file, at its start.
func (f *follower) switchToHeld() {
	h := f.held[0]
	f.held = f.held[1:]
	f.f.Close()
	f.f = h.file
	f.pos = position{Path: h.path, Dev: h.id.Dev, Ino: h.id.Ino}
	if fi, err := f.f.Stat(); err == nil {
		f.refreshHead(fi.Size())
	}
}

// rotated reports whether the file being read is no longer the live one.
func (f *follower) rotated() bool {
	fi, err := os.Stat(f.live)
	return err != nil || idOf(fi) != f.pos.id()
}

// read returns the next batch of whole lines. Fewer lines than a batch
// are only taken with force (the linger has passed, or the sink is
// draining) or from a file the rotation has closed.
func (f *follower) read(force bool) ([]byte, readResult, error) {
	if time.Since(f.lastLook) >= lookEvery && !f.isLive() {
		f.lastLook = time.Now()
		if f.look() {
			return nil, readSwitched, nil
		}
	}
	for {
		fi, err := f.f.Stat()
		if err != nil {
			return nil, readNothing, err
		}
		size := fi.Size()
		f.refreshHead(size)
		avail := size - f.pos.Offset
		if avail > 0 {
			rotated := f.rotated()
			if avail < int64(f.maxBatch) && !force && !rotated {
				return nil, readPartial, nil
			}
			data, err := f.readLines(avail, rotated)
			if err != nil || data == nil {
				return nil, readNothing, err
			}
			return data, readBatch, nil
		}
		if !f.rotated() {
			return nil, readNothing, nil
		}
		// Rotated: lines written just before the rotation may have
		// arrived since the size was taken.
		if fi, err = f.f.Stat(); err == nil && fi.Size() > f.pos.Offset {
			continue
		}
		return nil, f.next(), nil
	}
}

// readLines reads the whole lines among the avail bytes at the position,
// at most maxBatch of them unless one line is longer.
func (f *follower) readLines(avail int64, rotated bool) ([]byte, error) {
	n := min(avail, int64(f.maxBatch))
	for {
		buf := f.buffer(int(n))
		if _, err := f.f.ReadAt(buf, f.pos.Offset); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if cut := bytes.LastIndexByte(buf, '\n'); cut >= 0 {
			f.pos.Offset += int64(cut + 1)
			return buf[:cut+1], nil
		}
		switch {
		case n == avail && !rotated:
			return nil, nil // a line still being written
		case n == avail:
			// The file ended inside a line (a failed write, a crash):
			// nothing will finish it.
			f.pos.Offset += avail
			f.lost(0, avail, 1, "partial_line")
			return nil, nil
		case n >= int64(f.maxLine):
			skipped, err := f.skipLine()
			f.lost(0, skipped, 1, "too_long")
			return nil, err
		}
		n = min(avail, 2*n, int64(f.maxLine))
	}
}

// skipLine moves the position past the line it is in.
func (f *follower) skipLine() (int64, error) {
	buf := make([]byte, 64<<10)
	var skipped int64
	for {
		k, err := f.f.ReadAt(buf, f.pos.Offset)
		if i := bytes.IndexByte(buf[:k], '\n'); i >= 0 {
			f.pos.Offset += int64(i + 1)
			return skipped + int64(i+1), nil
		}
		f.pos.Offset += int64(k)
		skipped += int64(k)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return skipped, nil
			}
			return skipped, err
		}
	}
}

// isLive reports whether the file being read is the live one.
func (f *follower) isLive() bool { return !f.rotated() }

// next moves to the file after the one just read to its end: the oldest
// held, or, holding none, the next one listed.
func (f *follower) next() readResult {
	if len(f.held) > 0 {
		f.switchToHeld()
		return readSwitched
	}
	files, err := listStore(f.live)
	if err != nil {
		return readNothing
	}
	i := -1
	for j, sf := range files {
		if sf.id == f.pos.id() {
			i = j
		}
	}
	var next storeFile
	switch {
	case i >= 0 && i+1 < len(files):
		next = files[i+1]
	case i < 0 && len(files) > 0:
		// Ours was removed or compressed; the rotation removes the
		// oldest first, so every file still there is newer.
		next = files[0]
	default:
		return readNothing // the rotation has not made the new live file yet
	}
	if err := f.openAtListed(next, 0, files); err != nil {
		return readNothing
	}
	return readSwitched
}
