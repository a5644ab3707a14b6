// Package wire is zmqlog's batch format: how a producer packs many log
// entries into one ZeroMQ frame, and the decoder a collector runs on every
// message it receives. PROTOCOL.md at the module root is the byte-by-byte
// specification; this package is its reference implementation.
//
// A batch is a single frame:
//
//	magic "\xFFZL" | version 1 | flags | stream | first seq | count |
//	dropped | instance | pid | host | app | entries...
//
// where each entry is a uvarint-prefixed topic and a uvarint-prefixed body.
// 0xFF can never begin UTF-8 text, so a batch cannot be mistaken for a
// plain one-frame log line. Decode also accepts the plain messages any
// ZeroMQ PUSH can send: [topic, entry] and [entry].
//
// # Producer names
//
// A batch names its producer's host and app. Those names become
// Prometheus label values, log fields and state-file strings at the
// collector, so they follow one rule on both sides of the wire (see
// [Producer.Clean]): valid UTF-8 with no control characters, at most
// [MaxName] bytes, cut only between characters. [AppendHeader] writes names
// that way, and [Decode] repairs whatever a peer sent into that shape: each
// byte that is not part of valid UTF-8 and each control character (C0,
// DEL, C1) becomes U+FFFD. Decode repairs rather than refuses, because a
// producer's entries matter more than the exact spelling of its name: a
// program whose file name is not UTF-8 (Linux allows any bytes) must still
// be heard, with U+FFFD where its name had bytes that are not text.
package wire

import (
	"github.com/zmqlog/zmqlog/topic"

	"encoding/binary"
	"errors"
	"fmt"
	"iter"
)

// Version is the batch format version this package writes.
const Version = 1

// Magic starts every batch frame.
const Magic = "\xFFZL"

// Offsets of the fixed header fields (see PROTOCOL.md).
const (
	offVersion  = 3
	offFlags    = 4
	offStream   = 5
	offFirstSeq = 7
	offCount    = 15
	offDropped  = 19
	offInstance = 27
	offPID      = 35
	fixedHeader = 39 // then host and app, each a length byte and bytes
	// MaxName is the longest host or app name, in bytes, a header
	// carries; longer ones are cut at the last character that fits.
	MaxName = topic.MaxName
)

// Producer identifies who sent a batch. Instance is random per process
// start, so a restarted process with a reused PID is a new producer.
type Producer struct {
	Instance uint64
	PID      uint32
	Host     string
	App      string
}

// String formats the producer for logs and metrics labels.
func (p Producer) String() string {
	return fmt.Sprintf("%s/%d/%s/%016x", p.Host, p.PID, p.App, p.Instance)
}

// Clean returns p with its host and app names as a batch header carries
// them and Decode returns them: valid UTF-8, each invalid byte and each
// control character replaced by U+FFFD, cut to at most MaxName bytes
// between two characters. A name that already follows the rule is
// returned as it is.
func (p Producer) Clean() Producer {
	p.Host, p.App = cleanName(p.Host), cleanName(p.App)
	return p
}

// cleanName applies the producer-name rule (see Producer.Clean), the
// same rule topics apply to the app name in them.
func cleanName(s string) string { return topic.CleanName(s) }

// HeaderLen is the size of a batch header for p.
func HeaderLen(p Producer) int {
	p = p.Clean()
	return fixedHeader + 1 + len(p.Host) + 1 + len(p.App)
}

// AppendHeader appends a batch header for p with stream, first sequence
// number, count and dropped all zero; SetCount and Stamp fill them in.
// The names written are p.Clean()'s.
func AppendHeader(dst []byte, p Producer) []byte {
	p = p.Clean()
	dst = append(dst, Magic...)
	dst = append(dst, Version, 0)
	dst = append(dst, make([]byte, offInstance-offStream)...) // stream..dropped
	dst = binary.BigEndian.AppendUint64(dst, p.Instance)
	dst = binary.BigEndian.AppendUint32(dst, p.PID)
	dst = append(dst, byte(len(p.Host)))
	dst = append(dst, p.Host...)
	dst = append(dst, byte(len(p.App)))
	dst = append(dst, p.App...)
	return dst
}

// SetCount records how many entries follow the header of batch.
func SetCount(batch []byte, n int) {
	binary.BigEndian.PutUint32(batch[offCount:], uint32(n))
}

// Stamp records, just before a batch is written to a collector, the stream
// it goes on (the producer's endpoint index), the sequence number of its
// first entry on that stream, and how many entries the producer has
// dropped so far in all.
func Stamp(batch []byte, stream uint16, firstSeq, dropped uint64) {
	binary.BigEndian.PutUint16(batch[offStream:], stream)
	binary.BigEndian.PutUint64(batch[offFirstSeq:], firstSeq)
	binary.BigEndian.PutUint64(batch[offDropped:], dropped)
}

// IsBatch reports whether a message is a batch of this version, as
// opposed to a plain message. Decode still checks the rest of it.
func IsBatch(frames [][]byte) bool {
	return len(frames) == 1 && len(frames[0]) >= fixedHeader+2 &&
		string(frames[0][:len(Magic)]) == Magic && frames[0][offVersion] == Version
}

// Instance returns the producer instance recorded in a batch header.
func Instance(batch []byte) uint64 { return binary.BigEndian.Uint64(batch[offInstance:]) }

// Renumber records, just before a collector forwards a batch to the next
// tier, the relayed stream it goes on and the sequence number of its first
// entry there (see "Tiers" in PROTOCOL.md). The producer's identity and
// its dropped count are kept as they are.
func Renumber(batch []byte, stream uint16, firstSeq uint64) {
	binary.BigEndian.PutUint16(batch[offStream:], stream)
	binary.BigEndian.PutUint64(batch[offFirstSeq:], firstSeq)
}

// Count returns the entry count recorded in a batch header built by
// AppendHeader.
func Count(batch []byte) int { return int(binary.BigEndian.Uint32(batch[offCount:])) }

// EntrySize is the number of bytes AppendEntry adds for topic and data.
func EntrySize(topic string, data []byte) int {
	return uvarintLen(uint64(len(topic))) + len(topic) + uvarintLen(uint64(len(data))) + len(data)
}

// AppendEntry appends one entry.
func AppendEntry(dst []byte, topic string, data []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(topic)))
	dst = append(dst, topic...)
	dst = binary.AppendUvarint(dst, uint64(len(data)))
	return append(dst, data...)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// Errors Decode returns. A collector counts them per kind and skips the
// message.
var (
	ErrTruncated      = errors.New("wire: batch truncated")
	ErrUnknownVersion = errors.New("wire: unknown batch version")
	ErrMalformed      = errors.New("wire: malformed batch")
	ErrFrames         = errors.New("wire: message has more than 2 frames")
	ErrEmpty          = errors.New("wire: empty message")
)

// Batch is a decoded message: a batch from a zmqlog producer, or a plain
// message from any ZeroMQ peer (Plain true, Count 1, no producer).
type Batch struct {
	Producer Producer
	Plain    bool
	Stream   uint16
	FirstSeq uint64
	// Dropped is the producer's count of entries dropped before sending
	// (queue full, too large, closed) at the time of this batch.
	Dropped uint64
	Count   int
	// Bytes is the size of the message's frames.
	Bytes int

	entries []byte // the validated entries area of a batch
	topic   []byte // a plain message's topic (nil for [entry])
	data    []byte // a plain message's entry
}

// Decode reads one received message. It checks the whole batch before it
// returns, so Entries cannot fail; it allocates only the producer's host
// and app names, never by a size read from the message. The names are
// repaired to the rule of [Producer.Clean]: whatever a peer sends, they
// are valid UTF-8 without control characters.
func Decode(frames [][]byte) (Batch, error) {
	switch len(frames) {
	case 0:
		return Batch{}, ErrEmpty
	case 1:
		f := frames[0]
		if len(f) >= len(Magic) && string(f[:len(Magic)]) == Magic {
			return decodeBatch(f)
		}
		if len(f) == 0 {
			return Batch{}, ErrEmpty
		}
		return Batch{Plain: true, Count: 1, Bytes: len(f), data: f}, nil
	case 2:
		if len(frames[1]) == 0 {
			return Batch{}, ErrEmpty
		}
		return Batch{Plain: true, Count: 1, Bytes: len(frames[0]) + len(frames[1]), topic: frames[0], data: frames[1]}, nil
	}
	return Batch{}, fmt.Errorf("%w (%d)", ErrFrames, len(frames))
}

func decodeBatch(f []byte) (Batch, error) {
	if len(f) <= offVersion {
		return Batch{}, ErrTruncated
	}
	if f[offVersion] != Version {
		return Batch{}, fmt.Errorf("%w %d (this collector reads version %d)", ErrUnknownVersion, f[offVersion], Version)
	}
	if len(f) < fixedHeader+2 {
		return Batch{}, ErrTruncated
	}
	b := Batch{
		Stream:   binary.BigEndian.Uint16(f[offStream:]),
		FirstSeq: binary.BigEndian.Uint64(f[offFirstSeq:]),
		Count:    int(binary.BigEndian.Uint32(f[offCount:])),
		Dropped:  binary.BigEndian.Uint64(f[offDropped:]),
		Bytes:    len(f),
	}
	b.Producer.Instance = binary.BigEndian.Uint64(f[offInstance:])
	b.Producer.PID = binary.BigEndian.Uint32(f[offPID:])
	rest := f[fixedHeader:]
	host, rest, ok := lengthPrefixed(rest)
	if !ok {
		return Batch{}, ErrTruncated
	}
	app, rest, ok := lengthPrefixed(rest)
	if !ok {
		return Batch{}, ErrTruncated
	}
	b.Producer.Host, b.Producer.App = cleanName(string(host)), cleanName(string(app))
	if b.Count > len(rest)/2 { // every entry takes at least two bytes
		return Batch{}, fmt.Errorf("%w: count %d does not fit in %d bytes", ErrMalformed, b.Count, len(rest))
	}
	area := rest
	for i := range b.Count {
		var okT, okD bool
		_, rest, okT = uvarintPrefixed(rest)
		_, rest, okD = uvarintPrefixed(rest)
		if !okT || !okD {
			return Batch{}, fmt.Errorf("%w: entry %d of %d runs past the end", ErrMalformed, i+1, b.Count)
		}
	}
	if len(rest) != 0 {
		return Batch{}, fmt.Errorf("%w: %d bytes after the last entry", ErrMalformed, len(rest))
	}
	b.entries = area
	return b, nil
}

func lengthPrefixed(p []byte) (field, rest []byte, ok bool) {
	if len(p) < 1 || int(p[0]) > len(p)-1 {
		return nil, nil, false
	}
	n := int(p[0])
	return p[1 : 1+n], p[1+n:], true
}

func uvarintPrefixed(p []byte) (field, rest []byte, ok bool) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return nil, nil, false
	}
	return p[k : k+int(n)], p[k+int(n):], true
}

// Entries yields each entry's topic and body, in the order the producer
// shipped them. The slices point into the received message. A plain
// [entry] message yields a nil topic.
func (b Batch) Entries() iter.Seq2[[]byte, []byte] {
	return func(yield func(topic, data []byte) bool) {
		if b.Plain {
			yield(b.topic, b.data)
			return
		}
		rest := b.entries
		for range b.Count {
			var topic, data []byte
			topic, rest, _ = uvarintPrefixed(rest)
			data, rest, _ = uvarintPrefixed(rest)
			if !yield(topic, data) {
				return
			}
		}
	}
}
