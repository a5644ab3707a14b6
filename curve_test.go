package zmqlog_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog"
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/internal/zcert"
	"github.com/zmqlog/zmqlog/internal/zsock"
	"github.com/zmqlog/zmqlog/wire"
)

// WithCurveKeys and WithCurve deliver to a CURVE collector; keys that
// cannot work are refused by NewShipper with an error that says which
// key and what is wrong, never at the first dial.
func TestShipperOverCurve(t *testing.T) {
	ctx := testsupport.Context(t)
	server, err := zcert.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	client, err := zcert.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	serverPub, _, err := zcert.WriteFiles(dir, "collector", server)
	if err != nil {
		t.Fatal(err)
	}
	_, clientSecret, err := zcert.WriteFiles(dir, "app", client)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := zsock.ParseEndpoint("tcp://127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	pull, err := zsock.ListenPull(ep, zsock.Options{Curve: &zsock.CurveConfig{
		SecretKey: server.Secret,
		Authorize: func(k [32]byte) bool { return k == client.Public },
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer pull.Close()

	for name, opt := range map[string]zmqlog.Option{
		"keys":  zmqlog.WithCurveKeys(server.Public.String(), client.Public.String(), client.Secret.String()),
		"files": zmqlog.WithCurve(serverPub, clientSecret),
	} {
		s, err := zmqlog.NewShipper(pull.Endpoint(), opt, zmqlog.WithApp(name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s.Ship("ERROR."+name, []byte(`{"level":"error","msg":"over curve"}`))
		if err := s.Close(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m, err := pull.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, err := wire.Decode(m.Frames)
		if err != nil || b.Producer.App != name || m.Peer.CurveKey != client.Public {
			t.Fatalf("%s: received %+v (%v) from key %x", name, b.Producer, err, m.Peer.CurveKey)
		}
	}

	other, err := zcert.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "open.key_secret")
	data, _ := os.ReadFile(clientSecret)
	if err := os.WriteFile(open, data, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := zcert.Key{}
	for _, tc := range []struct {
		name string
		opt  zmqlog.Option
		want string
	}{
		{"swapped public key", zmqlog.WithCurveKeys(server.Public.String(), other.Public.String(), client.Secret.String()), "is not the secret key's"},
		{"bad Z85", zmqlog.WithCurveKeys("not a key", client.Public.String(), client.Secret.String()), "server public key"},
		{"zero secret", zmqlog.WithCurveKeys(server.Public.String(), zcert.PublicKey(zero).String(), zero.String()), "weak"},
		{"low-order server key", zmqlog.WithCurveKeys(zero.String(), client.Public.String(), client.Secret.String()), "low order"},
		{"missing file", zmqlog.WithCurve(filepath.Join(dir, "nope.key"), clientSecret), "nope.key"},
		{"exposed secret", zmqlog.WithCurve(serverPub, open), "chmod 600"},
	} {
		start := time.Now()
		s, err := zmqlog.NewShipper(pull.Endpoint(), tc.opt)
		if err == nil {
			s.Shutdown(context.Background())
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || time.Since(start) > time.Second {
			t.Errorf("%s: %v, want an error at once saying %q", tc.name, err, tc.want)
		}
	}
}
