package zmqlog

import (
	"fmt"

	"github.com/zmqlog/zmqlog/internal/zcert"
	"github.com/zmqlog/zmqlog/internal/zsock"
)

// WithCurve makes the shipper speak CURVE (CurveZMQ, RFC 26) to its
// collectors: every batch is encrypted, and the collector knows, by its
// key, which client sent it. serverCertFile is the collector's public
// certificate (NAME.key); clientSecretFile is this app's secret
// certificate (NAME.key_secret, mode 0600, readable by its owner only).
// Both are the files `zmqcollect keygen NAME` and pyzmq's
// zmq.auth.create_certificates write. The files are read when the
// shipper starts, and an error names the file and what is wrong with it.
//
// A collector that takes only listed clients must have this app's
// NAME.key in its --curve-clients directory; until then its batches are
// refused at the handshake, and count there, not as delivered.
func WithCurve(serverCertFile, clientSecretFile string) Option {
	return optionFunc(func(c *config) error {
		server, err := zcert.LoadPublic(serverCertFile)
		if err != nil {
			return fmt.Errorf("CURVE server key: %w", err)
		}
		pair, err := zcert.LoadSecret(clientSecretFile)
		if err != nil {
			return fmt.Errorf("CURVE client key: %w", err)
		}
		c.curve = &zsock.CurveConfig{SecretKey: pair.Secret, ServerKey: server}
		return nil
	})
}

// WithCurveKeys is WithCurve with the keys as Z85 text (40 characters
// each, as in the certificate files and zmq_curve_keypair): the
// collector's public key, and this app's public and secret keys. The
// public key must be the secret key's, which catches keys swapped or
// copied from different pairs.
func WithCurveKeys(serverPublic, clientPublic, clientSecret string) Option {
	return optionFunc(func(c *config) error {
		server, err := zcert.ParseKey(serverPublic)
		if err != nil {
			return fmt.Errorf("CURVE server public key: %w", err)
		}
		public, err := zcert.ParseKey(clientPublic)
		if err != nil {
			return fmt.Errorf("CURVE client public key: %w", err)
		}
		secret, err := zcert.ParseKey(clientSecret)
		if err != nil {
			return fmt.Errorf("CURVE client secret key: %w", err)
		}
		if err := zcert.CheckPublic(server); err != nil {
			return fmt.Errorf("CURVE server public key: %w", err)
		}
		if err := zcert.CheckSecret(secret); err != nil {
			return fmt.Errorf("CURVE client secret key: %w", err)
		}
		if zcert.PublicKey(secret) != public {
			return fmt.Errorf("CURVE client keys: the public key %s is not the secret key's", public)
		}
		c.curve = &zsock.CurveConfig{SecretKey: secret, ServerKey: server}
		return nil
	})
}
