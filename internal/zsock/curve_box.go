package zsock

import (
	"encoding/binary"
	"fmt"
	"sync"

	"golang.org/x/crypto/nacl/box"
)

// curveCodec seals and opens the MESSAGE boxes of an established CURVE
// connection. Each ZMTP frame travels as one MESSAGE command in a frame of
// its own, as libzmq 4.3 sends it (curve_encoding_t::encode): an outer
// frame with no flags, whose body is "\x07MESSAGE", the 8-byte short
// nonce, then Box[flags + frame body] where flags carries MORE (0x01) and
// COMMAND (0x02). Commands after the handshake (PING, PONG, SUBSCRIBE,
// CANCEL) are boxed the same way.
//
// Short nonces go up by one per frame from where the handshake left them;
// a frame whose nonce is not above the last one received is refused
// (ErrBadCrypto), so a replayed or reordered box drops the peer.
type curveCodec struct {
	shared                 [32]byte
	sendPrefix, recvPrefix string
	// sendNonce is the next short nonce to send, guarded by conn.wmu so
	// that the order of nonces is the order of bytes on the wire.
	sendNonce uint64
	// peerNonce is the last short nonce received (reader goroutine).
	peerNonce uint64
}

// seal appends to out one ZMTP frame holding a MESSAGE box of body with
// the ZMTP frame flags zflags, staging the plaintext in *stage.
func (k *curveCodec) seal(out []byte, zflags byte, body []byte, stage *[]byte) []byte {
	var flags byte
	if zflags&flagMore != 0 {
		flags |= boxFlagMore
	}
	if zflags&flagCommand != 0 {
		flags |= boxFlagCommand
	}
	plain := append(append((*stage)[:0], flags), body...)
	*stage = plain
	size := messageOverhead + len(body)
	if size > 255 {
		out = append(out, flagLong)
		out = binary.BigEndian.AppendUint64(out, uint64(size))
	} else {
		out = append(out, 0, byte(size))
	}
	n := k.sendNonce
	k.sendNonce++
	out = append(out, "\x07MESSAGE"...)
	out = binary.BigEndian.AppendUint64(out, n)
	return box.SealAfterPrecomputation(out, plain, shortNonce(k.sendPrefix, n), &k.shared)
}

// open checks and opens one MESSAGE frame body into a new buffer, and
// returns the ZMTP frame flags (flagMore, flagCommand) and the frame.
func (k *curveCodec) open(msg []byte) (zflags byte, frame []byte, err error) {
	if len(msg) < messageOverhead || string(msg[:8]) != "\x07MESSAGE" {
		return 0, nil, fmt.Errorf("%w: a CURVE frame of %d bytes that is no MESSAGE", errCurveMalformed, len(msg))
	}
	n := binary.BigEndian.Uint64(msg[8:16])
	if n <= k.peerNonce {
		return 0, nil, fmt.Errorf("%w: MESSAGE nonce %d after %d", ErrBadCrypto, n, k.peerNonce)
	}
	plain, ok := box.OpenAfterPrecomputation(make([]byte, 0, openedSize(len(msg))), msg[messageHeaderSize:], shortNonce(k.recvPrefix, n), &k.shared)
	if !ok {
		return 0, nil, fmt.Errorf("%w: a MESSAGE box does not open", ErrBadCrypto)
	}
	k.peerNonce = n
	if plain[0]&boxFlagMore != 0 {
		zflags |= flagMore
	}
	if plain[0]&boxFlagCommand != 0 {
		zflags |= flagCommand
	}
	return zflags, plain[1:], nil
}

// openedSize is the size of the buffer a MESSAGE frame body of size
// bytes opens into (its flags byte and frame).
func openedSize(size int) int { return size - messageHeaderSize - box.Overhead }

// boxBufferSize is the size of the pooled buffers a CURVE connection reads
// MESSAGE boxes into (a 64 KiB batch and its box fit) and seals batches
// into; larger buffers are not kept.
const boxBufferSize = writeBufferSize + 4*messageOverhead + 64

// boxBuffers lends buffers for sealing and reading boxes: connections
// hold one only while they seal or read, so a listener with thousands of
// quiet connections keeps none of them.
var boxBuffers = sync.Pool{New: func() any { b := make([]byte, 0, boxBufferSize); return &b }}

func getBoxBuffer() *[]byte { return boxBuffers.Get().(*[]byte) }

func putBoxBuffer(b *[]byte) {
	if cap(*b) > 4*boxBufferSize {
		return // one large message grew it: let it go
	}
	*b = (*b)[:0]
	boxBuffers.Put(b)
}
