package zcert

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// MaxFileSize bounds what is read of a certificate file: a real one is
// under 1 KiB, so anything past 64 KiB is not one.
const MaxFileSize = 64 << 10

// Suffixes of the two files of a certificate, as pyzmq and czmq name them.
const (
	PublicSuffix = ".key"
	SecretSuffix = ".key_secret"
)

// FileError is what is wrong with one certificate file.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string { return "certificate " + e.Path + ": " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// ErrSecretExposed is wrapped by LoadSecret's error for a secret file
// that its group or others may read or write.
var ErrSecretExposed = errors.New("secret key file open to group or others")

func fileErr(path string, format string, args ...any) error {
	return &FileError{Path: path, Err: fmt.Errorf(format, args...)}
}

// readCert reads and parses a certificate file, at most MaxFileSize bytes,
// refusing anything but a regular file (a FIFO would block the reader).
func readCert(path string) (*zplNode, fs.FileInfo, error) {
	// Open first, without blocking (a FIFO put in the file's place would
	// otherwise hang the reader), then check what was opened: checking the
	// path and then opening it would let a file swapped in between skip
	// the checks, the secret file's mode among them.
	f, err := openNoBlock(path)
	if err != nil {
		return nil, nil, &FileError{Path: path, Err: unwrapPath(err)}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, &FileError{Path: path, Err: unwrapPath(err)}
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fileErr(path, "not a regular file (%v)", fi.Mode().Type())
	}
	if fi.Size() > MaxFileSize {
		return nil, nil, fileErr(path, "%d bytes, larger than a certificate file can be (%d KiB at most)", fi.Size(), MaxFileSize>>10)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, nil, &FileError{Path: path, Err: unwrapPath(err)}
	}
	if len(data) > MaxFileSize { // it grew since Stat
		return nil, nil, fileErr(path, "larger than a certificate file can be (%d KiB at most)", MaxFileSize>>10)
	}
	root, err := parseZPL(data)
	if err != nil {
		return nil, nil, fileErr(path, "not a ZPL certificate file: %v", err)
	}
	return root, fi, nil
}

// unwrapPath drops the *fs.PathError's repetition of the path, which
// FileError already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// curveKey reads curve/NAME from a parsed certificate: nil when absent.
func curveKey(path string, root *zplNode, name string) (*Key, error) {
	curve, err := root.child("curve")
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	if curve == nil {
		return nil, fileErr(path, `no "curve" section: not a CURVE certificate`)
	}
	node, err := curve.child(name)
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	if node == nil {
		return nil, nil
	}
	k, err := ParseKey(node.value)
	if err != nil {
		return nil, fileErr(path, "line %d: curve/%s: %v", node.line, name, err)
	}
	return &k, nil
}

// LoadPublic returns the public key in a certificate file: NAME.key, or
// NAME.key_secret (whose secret key it ignores, and whose mode it does
// not check).
func LoadPublic(path string) (Key, error) {
	root, _, err := readCert(path)
	if err != nil {
		return Key{}, err
	}
	pub, err := curveKey(path, root, "public-key")
	if err != nil {
		return Key{}, err
	}
	if pub == nil {
		return Key{}, fileErr(path, `no public-key in its "curve" section`)
	}
	if err := CheckPublic(*pub); err != nil {
		return Key{}, &FileError{Path: path, Err: err}
	}
	return *pub, nil
}

// LoadSecret returns the key pair in a secret certificate file
// (NAME.key_secret). It refuses a file its group or others may read or
// write (the error wraps [ErrSecretExposed] and says how to fix it), a
// file without a secret key, and one whose public key is not the secret
// key's.
func LoadSecret(path string) (KeyPair, error) {
	root, fi, err := readCert(path)
	if err != nil {
		return KeyPair{}, err
	}
	if perm := fi.Mode().Perm(); perm&0o066 != 0 {
		return KeyPair{}, &FileError{Path: path, Err: fmt.Errorf("%w: mode %#o lets %s it; run: chmod 600 %s",
			ErrSecretExposed, uint32(perm), exposedTo(perm), path)}
	}
	sec, err := curveKey(path, root, "secret-key")
	if err != nil {
		return KeyPair{}, err
	}
	if sec == nil {
		return KeyPair{}, fileErr(path, `no secret-key in its "curve" section: a public certificate, not a secret one`)
	}
	pub, err := curveKey(path, root, "public-key")
	if err != nil {
		return KeyPair{}, err
	}
	if err := CheckSecret(*sec); err != nil {
		return KeyPair{}, &FileError{Path: path, Err: err}
	}
	pair := KeyPair{Secret: *sec, Public: PublicKey(*sec)}
	if pub == nil {
		return KeyPair{}, fileErr(path, `no public-key in its "curve" section`)
	}
	if *pub != pair.Public {
		return KeyPair{}, fileErr(path, "its public-key is not the secret key's public key (which is %s)", pair.Public)
	}
	return pair, nil
}

func exposedTo(perm fs.FileMode) string {
	var who []string
	if perm&0o060 != 0 {
		who = append(who, "its group")
	}
	if perm&0o006 != 0 {
		who = append(who, "others")
	}
	return strings.Join(who, " and ") + " read or write"
}

// ValidName checks a certificate name: the base of its two file names,
// so not empty, no path separator, no leading dot or dash (a hidden file,
// or one a shell would read as a flag), no control characters.
func ValidName(name string) error {
	switch {
	case name == "":
		return errors.New("a certificate name may not be empty")
	case strings.ContainsAny(name, `/\`):
		return fmt.Errorf("certificate name %q holds a path separator: give a bare name such as %q; the files go in the current directory", name, filepath.Base(filepath.ToSlash(name)))
	case name[0] == '.' || name[0] == '-':
		return fmt.Errorf("certificate name %q may not start with %q", name, name[:1])
	case strings.IndexFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0:
		return fmt.Errorf("certificate name %q holds a control character", name)
	}
	return nil
}

// WriteFiles writes pair as dir/NAME.key (the public key, mode 0644, less
// the umask) and dir/NAME.key_secret (both keys, mode 0600), in the layout
// pyzmq's create_certificates writes. It never overwrites: if either file
// exists it writes neither and says so. It returns the two paths.
func WriteFiles(dir, name string, pair KeyPair) (publicPath, secretPath string, err error) {
	if err := ValidName(name); err != nil {
		return "", "", err
	}
	publicPath = filepath.Join(dir, name+PublicSuffix)
	secretPath = filepath.Join(dir, name+SecretSuffix)
	for _, p := range []string{publicPath, secretPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fileErr(p, "already exists; not overwriting a certificate (remove it first, or choose another name)")
		}
	}
	now := time.Now().Format(time.DateTime)
	secret := fmt.Sprintf(secretBanner, now) + "metadata\ncurve\n" +
		fmt.Sprintf("    public-key = \"%s\"\n    secret-key = \"%s\"\n", pair.Public, pair.Secret)
	public := fmt.Sprintf(publicBanner, now) + "metadata\ncurve\n" +
		fmt.Sprintf("    public-key = \"%s\"\n", pair.Public)
	if err := writeNew(secretPath, secret, 0o600); err != nil {
		return "", "", err
	}
	if err := writeNew(publicPath, public, 0o644); err != nil {
		os.Remove(secretPath) // we made it just now: leave no half certificate
		return "", "", err
	}
	return publicPath, secretPath, nil
}

// writeNew creates path (failing if it exists, even if it appeared since
// WriteFiles looked) and writes text to it.
func writeNew(path, text string, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return fileErr(path, "already exists; not overwriting a certificate (remove it first, or choose another name)")
	}
	if err != nil {
		return &FileError{Path: path, Err: unwrapPath(err)}
	}
	_, err = f.WriteString(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return &FileError{Path: path, Err: unwrapPath(err)}
	}
	return nil
}

// The banners pyzmq writes (zmq/auth/certs.py), naming this program.
const (
	secretBanner = `#   ****  Generated on %s by zmqlog  ****
#   ZeroMQ CURVE **Secret** Certificate
#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.

`
	publicBanner = `#   ****  Generated on %s by zmqlog  ****
#   ZeroMQ CURVE Public Certificate
#   Exchange securely, or use a secure mechanism to verify the contents
#   of this file after exchange. Store public certificates in your home
#   directory, in the .curve subdirectory.

`
)
