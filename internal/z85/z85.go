// Package z85 is ZeroMQ's Z85 encoding (RFC 32, https://rfc.zeromq.org/spec/32/):
// binary data as printable text, four bytes to five characters, the form
// in which CURVE keys are written in certificate files, on command lines
// and in libzmq's ZMQ_CURVE_*KEY options (a 32-byte key is 40 characters).
//
// Encode takes a length that is a multiple of 4 and Decode a length that
// is a multiple of 5, as RFC 32 requires; neither pads. Decode refuses any
// character outside the Z85 alphabet and any 5-character group whose value
// does not fit in 32 bits, so every text it accepts is exactly what Encode
// gives for the bytes it returns. Its errors are [*DecodeError]s that say
// where the input is wrong.
package z85

import (
	"fmt"
	"strconv"
)

// alphabet is RFC 32's table: digit value i is alphabet[i].
const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

// invalid marks a byte that is not a Z85 digit in decodeMap.
const invalid = 0xFF

var decodeMap = func() (m [256]byte) {
	for i := range m {
		m[i] = invalid
	}
	for i := 0; i < len(alphabet); i++ {
		m[alphabet[i]] = byte(i)
	}
	return m
}()

// EncodedLen is the length of the text Encode makes of n bytes (n a
// multiple of 4).
func EncodedLen(n int) int { return n / 4 * 5 }

// DecodedLen is the number of bytes Decode makes of n characters (n a
// multiple of 5).
func DecodedLen(n int) int { return n / 5 * 4 }

// Encode returns src as Z85 text. src's length must be a multiple of 4
// (RFC 32 has no padding); otherwise Encode returns an error and no text.
func Encode(src []byte) (string, error) {
	if len(src)%4 != 0 {
		return "", fmt.Errorf("z85: cannot encode %d bytes: the length must be a multiple of 4", len(src))
	}
	dst := make([]byte, EncodedLen(len(src)))
	for i, o := 0, 0; i < len(src); i, o = i+4, o+5 {
		v := uint32(src[i])<<24 | uint32(src[i+1])<<16 | uint32(src[i+2])<<8 | uint32(src[i+3])
		for j := 4; j >= 0; j-- {
			dst[o+j] = alphabet[v%85]
			v /= 85
		}
	}
	return string(dst), nil
}

// DecodeError says why Decode refused its input, and where.
type DecodeError struct {
	Offset int    // index in the text of the first character at fault (for a bad length: the length)
	Reason string // what is wrong there
}

func (e *DecodeError) Error() string {
	return "z85: " + e.Reason
}

// Decode returns the bytes that Z85 text s encodes. It refuses, with a
// [*DecodeError], a length that is not a multiple of 5, a character
// outside the Z85 alphabet, and a group of five characters whose value
// exceeds 2³²−1 (such text has no bytes that encode to it).
func Decode(s string) ([]byte, error) {
	if len(s)%5 != 0 {
		return nil, &DecodeError{Offset: len(s), Reason: fmt.Sprintf("%d characters: the length must be a multiple of 5", len(s))}
	}
	dst := make([]byte, DecodedLen(len(s)))
	for i, o := 0, 0; i < len(s); i, o = i+5, o+4 {
		var v uint64
		for j := 0; j < 5; j++ {
			d := decodeMap[s[i+j]]
			if d == invalid {
				return nil, &DecodeError{Offset: i + j, Reason: fmt.Sprintf("character %s at offset %d is not in the Z85 alphabet", quoteByte(s[i+j]), i+j)}
			}
			v = v*85 + uint64(d)
		}
		if v > 0xFFFFFFFF {
			return nil, &DecodeError{Offset: i, Reason: fmt.Sprintf("group %q at offset %d is worth %d, more than 32 bits hold", s[i:i+5], i, v)}
		}
		dst[o], dst[o+1], dst[o+2], dst[o+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	return dst, nil
}

// quoteByte shows one byte of the input the way Go source would, so a
// control character or a byte of UTF-8 is visible in the message.
func quoteByte(b byte) string {
	if b < 0x80 {
		return strconv.QuoteRune(rune(b))
	}
	return fmt.Sprintf("'\\x%02x'", b)
}
