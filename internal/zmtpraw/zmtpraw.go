// Package zmtpraw builds ZMTP 3 bytes by hand, for tests that play a
// peer byte by byte: a well-behaved one, or one that lies about sizes,
// stops half way or sends malformed metadata.
package zmtpraw

import "encoding/binary"

// Frame flag bits (RFC 23).
const (
	More    = 0x01
	Long    = 0x02
	Command = 0x04
)

// GreetingSize is the fixed size of the ZMTP 3 greeting.
const GreetingSize = 64

// Greeting is a ZMTP 3.0 greeting offering the NULL mechanism.
func Greeting() []byte {
	g := make([]byte, GreetingSize)
	g[0], g[9], g[10], g[11] = 0xFF, 0x7F, 3, 0
	copy(g[12:], "NULL")
	return g
}

// Ready is the body of a READY command with the given metadata, as
// name, value pairs: Ready("Socket-Type", "PUSH").
func Ready(props ...string) []byte {
	b := []byte("\x05READY")
	for i := 0; i+1 < len(props); i += 2 {
		b = append(b, byte(len(props[i])))
		b = append(b, props[i]...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(props[i+1])))
		b = append(b, props[i+1]...)
	}
	return b
}

// Frame is one frame: its header (short or long, as the size needs) and
// body.
func Frame(flags byte, body []byte) []byte {
	if len(body) > 255 {
		return append(LongHeader(flags, uint64(len(body))), body...)
	}
	return append([]byte{flags, byte(len(body))}, body...)
}

// LongHeader is the header of a long frame announcing size bytes, which
// need not follow.
func LongHeader(flags byte, size uint64) []byte {
	h := make([]byte, 9)
	h[0] = flags | Long
	binary.BigEndian.PutUint64(h[1:], size)
	return h
}

// Handshake is what a peer of the given socket type sends to complete a
// NULL handshake: the greeting, then READY.
func Handshake(socketType string) []byte {
	return append(Greeting(), Frame(Command, Ready("Socket-Type", socketType))...)
}
