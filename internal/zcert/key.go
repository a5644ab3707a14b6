package zcert

import (
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/zmqlog/zmqlog/internal/z85"
)

// KeySize is the length of a CURVE key in bytes.
const KeySize = 32

// KeyTextSize is the length of a CURVE key in Z85 text.
const KeyTextSize = 40

// Key is a Curve25519 key, public or secret.
type Key [KeySize]byte

// String returns k as 40 characters of Z85, the form certificate files
// and libzmq's socket options use.
func (k Key) String() string {
	s, err := z85.Encode(k[:])
	if err != nil {
		panic(err) // 32 is a multiple of 4
	}
	return s
}

// ParseKey reads a key written as 40 characters of Z85. Its errors say
// what is wrong with s without repeating s, which may be a secret.
func ParseKey(s string) (Key, error) {
	var k Key
	if len(s) != KeyTextSize {
		return k, fmt.Errorf("a CURVE key is %d characters of Z85, not %d", KeyTextSize, len(s))
	}
	b, err := z85.Decode(s)
	if err != nil {
		var de *z85.DecodeError
		if errors.As(err, &de) {
			return k, fmt.Errorf("not a CURVE key in Z85: %s", de.Reason)
		}
		return k, fmt.Errorf("not a CURVE key in Z85: %w", err)
	}
	copy(k[:], b)
	return k, nil
}

// KeyPair is a secret key and its public key.
type KeyPair struct {
	Public Key
	Secret Key
}

// String shows the public key only, so a pair that reaches a log or an
// error message does not take its secret key there.
func (p KeyPair) String() string { return "{public " + p.Public.String() + ", secret hidden}" }

// GoString is String, for %#v.
func (p KeyPair) GoString() string { return p.String() }

// GenerateKeyPair makes a new secret key from crypto/rand and computes
// its public key, as libzmq's zmq_curve_keypair does.
func GenerateKeyPair() (KeyPair, error) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return KeyPair{}, fmt.Errorf("generating a CURVE key pair: %w", err)
	}
	var p KeyPair
	copy(p.Secret[:], priv.Bytes())
	copy(p.Public[:], priv.PublicKey().Bytes())
	return p, nil
}

// PublicKey returns the public key that belongs to secret (Curve25519's
// scalar multiplication of the base point, as libzmq's zmq_curve_public).
func PublicKey(secret Key) Key {
	priv, err := ecdh.X25519().NewPrivateKey(secret[:])
	if err != nil {
		panic(err) // every 32 bytes are an X25519 private key
	}
	var pub Key
	copy(pub[:], priv.PublicKey().Bytes())
	return pub
}

// ErrWeakKey is wrapped by the error for a key no one should use: an
// all-zero secret key (a field left unset: its public key is known to
// everyone), or a public key of low order (a key agreement with it gives
// a value known to everyone, so the box it seals protects nothing).
var ErrWeakKey = errors.New("weak CURVE key")

// CheckPublic refuses a public key of low order (RFC 7748 section 6.1).
func CheckPublic(k Key) error {
	pub, err := ecdh.X25519().NewPublicKey(k[:])
	if err == nil {
		var probe *ecdh.PrivateKey
		if probe, err = ecdh.X25519().GenerateKey(rand.Reader); err == nil {
			_, err = probe.ECDH(pub) // fails exactly when the result is all zeros
		}
	}
	if err != nil {
		return fmt.Errorf("%w: a public key of low order", ErrWeakKey)
	}
	return nil
}

// CheckSecret refuses an all-zero secret key.
func CheckSecret(k Key) error {
	if k == (Key{}) {
		return fmt.Errorf("%w: a secret key of all zeros", ErrWeakKey)
	}
	return nil
}
