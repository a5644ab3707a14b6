package zcert

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// AllowListOptions tune an [AllowList]; the zero value is the defaults.
type AllowListOptions struct {
	// Interval is how often, at most, Allowed checks whether the
	// directory changed (default 1s).
	Interval time.Duration
	// MaxEntries bounds the directory entries examined at each check
	// (default 10000); past it the rest are ignored and reported, so a
	// huge directory cannot stall the handshake that checks it.
	MaxEntries int
	// Reloaded, if set, is called after each reading of the directory
	// that found something other than the last one did (a check that
	// finds no change of names, sizes or times does not read it) with
	// what was loaded and what was skipped (for logging). It runs on the
	// goroutine that called Allowed or Reload, so it should be quick.
	Reloaded func(AllowListReport)
	// Now is the clock (default time.Now); tests move it on.
	Now func() time.Time
}

// AllowListReport is what one reading of the directory found.
type AllowListReport struct {
	Dir     string
	Keys    int     // distinct public keys now allowed
	Files   int     // *.key files read without error
	Skipped []error // one per *.key file skipped (each a *FileError), or bound hit
}

// AllowList is the public keys in a directory's *.key files. Allowed is
// cheap and never waits for the directory to be read: a new set of keys
// is built off to the side and swapped in whole.
//
// The directory is checked again at most once per Interval, by the first
// Allowed call after it elapses (the others meanwhile answer from the
// current set); the check lists the directory and compares names, sizes
// and modification times of its *.key files with the last reading, and
// reads them again only when something changed. A file that cannot be
// read, or holds no valid public key, is skipped and reported. If the
// directory itself cannot be read after start, the keys loaded before
// stay allowed and the error is reported.
type AllowList struct {
	dir  string
	opts AllowListOptions

	keys      atomic.Pointer[keySet]
	nextCheck atomic.Int64                   // unix nanoseconds before which Allowed does not check
	load      func(path string) (Key, error) // LoadPublic; tests make it fail
	reading   sync.Mutex                     // one reading of the directory at a time
	stamps    []fileStamp                    // what the last reading saw; guarded by reading
	racy      bool                           // a file in stamps may change unseen; guarded by reading
	dirFailed bool                           // the last listing failed; guarded by reading
	last      atomic.Pointer[AllowListReport]
}

type keySet map[Key]struct{}

// racyWindow is how young a file's time must be for a same-size rewrite
// to be missed: generous, for file systems that keep whole seconds.
const racyWindow = 2 * time.Second

// fileStamp is what tells that a *.key file changed, without reading it.
type fileStamp struct {
	name  string
	size  int64
	mtime int64
	// inode and ctime (zero where the system has none): certificates are
	// all the same size, so a file replaced by another with the same time
	// (restored from a backup, say) differs only in these.
	inode, ctime uint64
}

// OpenAllowList reads the *.key files in dir. It fails if dir cannot be
// read at all; files it cannot use are in [AllowList.Report].
func OpenAllowList(dir string, opts AllowListOptions) (*AllowList, error) {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 10000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &AllowList{dir: dir, opts: opts, load: LoadPublic}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("allowed client certificates %s: %w", dir, unwrapPath(err))
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("allowed client certificates %s: not a directory", dir)
	}
	if err := a.Reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// Allowed reports whether k is the public key of one of the directory's
// *.key files, checking first whether the directory changed if Interval
// has passed since the last check.
func (a *AllowList) Allowed(k Key) bool {
	if now := a.opts.Now().UnixNano(); now >= a.nextCheck.Load() && a.reading.TryLock() {
		// TryLock: while another caller reads the directory, answer
		// from the current set rather than wait for it.
		a.checkLocked()
		a.reading.Unlock()
	}
	_, ok := (*a.keys.Load())[k] // set by OpenAllowList before a is returned
	return ok
}

// Len is the number of distinct keys allowed now.
func (a *AllowList) Len() int {
	if set := a.keys.Load(); set != nil {
		return len(*set)
	}
	return 0
}

// Report is what the latest reading of the directory found.
func (a *AllowList) Report() AllowListReport { return *a.last.Load() }

// Reload reads the directory now (if it changed since the last reading),
// waiting for a reading under way to end first. Use it on SIGHUP, or in
// tests. Its error is the directory's, not a file's.
func (a *AllowList) Reload() error {
	a.reading.Lock()
	defer a.reading.Unlock()
	return a.checkLocked()
}

// checkLocked lists the directory, and reads its *.key files again if
// their names, sizes or times changed. a.reading is held.
func (a *AllowList) checkLocked() error {
	a.nextCheck.Store(a.opts.Now().Add(a.opts.Interval).UnixNano())
	listed := time.Now() // the file system's clock, not opts.Now
	stamps, overflow, err := a.list()
	if err != nil {
		if !a.dirFailed { // reported once, not at every check while it lasts
			rep := AllowListReport{Dir: a.dir, Keys: a.Len(), Skipped: []error{err}}
			if prev := a.last.Load(); prev != nil {
				rep.Files = prev.Files
			}
			a.publish(rep)
		}
		a.dirFailed = true
		return err
	}
	unchanged := a.keys.Load() != nil && slices.Equal(stamps, a.stamps) && !a.racy && !a.dirFailed
	a.dirFailed = false
	// A file rewritten with the same size within the file system's
	// timestamp granularity keeps its stamp (git's "racy" index entries):
	// while any file is that young, read again at the next check.
	// Only a time near now is racy: a file dated in the future (clock
	// skew, a restored backup) would otherwise be read at every check.
	a.racy = slices.ContainsFunc(stamps, func(s fileStamp) bool {
		return s.mtime >= listed.Add(-racyWindow).UnixNano() && s.mtime <= listed.Add(racyWindow).UnixNano()
	})
	if unchanged {
		return nil
	}
	set := keySet{}
	rep := AllowListReport{Dir: a.dir}
	if overflow {
		rep.Skipped = append(rep.Skipped, fmt.Errorf("allowed client certificates %s: more than %d entries; the rest were not read", a.dir, a.opts.MaxEntries))
	}
	for _, s := range stamps {
		k, err := a.load(filepath.Join(a.dir, s.name))
		if err != nil {
			rep.Skipped = append(rep.Skipped, err)
			// A file that could not be read (out of file descriptors, an
			// I/O error) is read again at the next check, although its
			// stamp will not have changed: otherwise its key would stay
			// refused until someone touched the directory.
			a.racy = a.racy || readFailed(err)
			continue
		}
		set[k] = struct{}{}
		rep.Files++
	}
	rep.Keys = len(set)
	a.stamps = stamps
	before := a.keys.Swap(&set)
	if prev := a.last.Load(); prev != nil && before != nil && a.racy && maps.Equal(*before, set) && sameReport(*prev, rep) {
		// Read again only because a file was young or unreadable, and
		// found as it was: not news (a file unreadable for good would
		// otherwise be reported at every check).
		return nil
	}
	a.publish(rep)
	return nil
}

// sameReport reports whether two readings found the same.
func sameReport(a, b AllowListReport) bool {
	return a.Dir == b.Dir && a.Keys == b.Keys && a.Files == b.Files &&
		slices.EqualFunc(a.Skipped, b.Skipped, func(x, y error) bool { return x.Error() == y.Error() })
}

// readFailed reports whether err says a file could not be read for a
// while (the process or the system out of file descriptors or memory, an
// interrupted or failed read), so that reading it again soon may work.
// Lasting errors (no permission, not a regular file, not a certificate)
// are not: re-reading every file at every check would not mend them, and
// the fix for them (chmod, a new file) changes the file's stamp anyway.
func readFailed(err error) bool {
	for _, transient := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.ENOBUFS, syscall.EINTR, syscall.EAGAIN, syscall.EIO} {
		if errors.Is(err, transient) {
			return true
		}
	}
	return false
}

func (a *AllowList) publish(rep AllowListReport) {
	a.last.Store(&rep)
	if a.opts.Reloaded != nil {
		a.opts.Reloaded(rep)
	}
}

// list returns the stamps of the directory's *.key files, sorted by name,
// looking at MaxEntries entries at most (overflow says there were more).
func (a *AllowList) list() (stamps []fileStamp, overflow bool, err error) {
	d, err := os.Open(a.dir)
	if err != nil {
		return nil, false, fmt.Errorf("allowed client certificates %s: %w", a.dir, unwrapPath(err))
	}
	defer d.Close()
	seen := 0
	for seen < a.opts.MaxEntries {
		entries, err := d.ReadDir(min(256, a.opts.MaxEntries-seen))
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), PublicSuffix) {
				continue
			}
			// A link is stamped with its target's size and time, which
			// LoadPublic reads. A file that vanished since the listing
			// keeps a zero stamp and is reported when read.
			st := fileStamp{name: e.Name()}
			info := e.Info
			if e.Type()&fs.ModeSymlink != 0 {
				info = func() (fs.FileInfo, error) { return os.Stat(filepath.Join(a.dir, e.Name())) }
			}
			if fi, err := info(); err == nil {
				st.size, st.mtime = fi.Size(), fi.ModTime().UnixNano()
				st.inode, st.ctime = fileIdentity(fi)
			}
			stamps = append(stamps, st)
		}
		seen += len(entries)
		if errors.Is(err, io.EOF) || (err == nil && len(entries) == 0) {
			slices.SortFunc(stamps, func(x, y fileStamp) int { return strings.Compare(x.name, y.name) })
			return stamps, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("allowed client certificates %s: %w", a.dir, unwrapPath(err))
		}
	}
	// Is there more? Only then is the bound hit.
	if more, _ := d.ReadDir(1); len(more) > 0 {
		overflow = true
	}
	slices.SortFunc(stamps, func(x, y fileStamp) int { return strings.Compare(x.name, y.name) })
	return stamps, overflow, nil
}
