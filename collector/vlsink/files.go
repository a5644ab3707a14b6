package vlsink

import (
	"bytes"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// storeFile is one file of the store: the live file (written now) or a
// backup the rotation renamed it to (name-2006-01-02T15-04-05.000.ext,
// lumberjack's format, in UTC). Renaming keeps a file's identity (device
// and inode), which is how the sink recognises the file it was reading
// under its new name.
type storeFile struct {
	path string
	id   fileID
	size int64
	file *os.File // when the follower holds it open
}

// backupTimeFormat is lumberjack's timestamp in a backup's name.
const backupTimeFormat = "2006-01-02T15-04-05.000"

// listStore returns the store's uncompressed files, oldest first, the
// live file (if it exists) last. Compressed backups (.gz) are left out:
// their lines were read before they were compressed, or they count as
// lost (see follower).
func listStore(live string) ([]storeFile, error) {
	dir, base := filepath.Dir(live), filepath.Base(live)
	ext := filepath.Ext(base)
	prefix := base[:len(base)-len(ext)] + "-"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type backup struct {
		storeFile
		at time.Time
	}
	var backups []backup
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, ext) || len(name) < len(prefix)+len(ext) {
			continue
		}
		at, err := time.Parse(backupTimeFormat, name[len(prefix):len(name)-len(ext)])
		if err != nil {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue // removed since ReadDir: the rotation's housekeeping
		}
		backups = append(backups, backup{storeFile{path: p, id: idOf(fi), size: fi.Size()}, at})
	}
	sort.Slice(backups, func(i, j int) bool { return backups[i].at.Before(backups[j].at) })
	files := make([]storeFile, 0, len(backups)+1)
	for _, b := range backups {
		files = append(files, b.storeFile)
	}
	if fi, err := os.Stat(live); err == nil {
		files = append(files, storeFile{path: live, id: idOf(fi), size: fi.Size()})
	}
	return files, nil
}

// headLen is how much of a file's beginning the cursor fingerprints: an
// inode number is reused once its file is deleted, so the identity is
// checked against the file's first bytes too. Enough bytes to hold a few
// lines' timestamps: lines begin alike (the producer stamp).
const headLen = 4096

// fingerprint hashes the first n bytes of f.
func fingerprint(f *os.File, n int) (uint64, bool) {
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, 0); err != nil && !(err == io.EOF && n == 0) {
		return 0, false
	}
	h := fnv.New64a()
	h.Write(buf)
	return h.Sum64(), true
}

// countLines counts the lines in f from off to its end.
func countLines(f *os.File, off int64) (uint64, error) {
	buf := make([]byte, 256<<10)
	var n uint64
	for {
		k, err := f.ReadAt(buf, off)
		n += uint64(bytes.Count(buf[:k], []byte{'\n'}))
		off += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
