package vlsink

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// position is a place in the store: a file, told by its identity and the
// fingerprint of its first bytes, and an offset in it just after a line.
// Path is the file's name when the position was taken, for people
// reading the cursor file; the sink finds the file by identity, since
// rotation renames it.
type position struct {
	Path    string `json:"path"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	HeadLen int    `json:"head_len"`
	Head    uint64 `json:"head"`
	Offset  int64  `json:"offset"`
}

func (p position) id() fileID { return fileID{p.Dev, p.Ino} }

// cursorFile is what the cursor file holds: the position up to which
// VictoriaLogs has acknowledged every line.
type cursorFile struct {
	Version  int      `json:"version"`
	Position position `json:"position"`
}

// loadCursor reads a saved cursor; ok is false when there is none.
func loadCursor(path string) (position, bool, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return position{}, false, nil
	}
	if err != nil {
		return position{}, false, err
	}
	var c cursorFile
	if err := json.Unmarshal(data, &c); err != nil {
		return position{}, false, fmt.Errorf("cursor file %s: %w", path, err)
	}
	if c.Version != 1 {
		return position{}, false, fmt.Errorf("cursor file %s: unknown version %d", path, c.Version)
	}
	if c.Position.Offset < 0 || c.Position.HeadLen < 0 || c.Position.HeadLen > headLen {
		return position{}, false, fmt.Errorf("cursor file %s: position out of range", path)
	}
	return c.Position, true, nil
}

// saveCursor writes the cursor beside its final place and renames it
// there, so a crash mid-write leaves the previous cursor whole. It does
// not fsync, as the producer-state file does not: a killed collector
// loses nothing the kernel has, and a machine that loses power sends
// again from an older cursor, at worst (duplicates, never loss).
func saveCursor(path string, mode os.FileMode, p position) error {
	data, _ := json.Marshal(cursorFile{Version: 1, Position: p}) // cannot fail
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
