package collector

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/internal/zcert"
	"github.com/zmqlog/zmqlog/internal/zsock"
)

// certs writes a key pair per name in dir (NAME.key, NAME.key_secret) and
// returns them.
func certs(t *testing.T, dir string, names ...string) map[string]zcert.KeyPair {
	t.Helper()
	out := map[string]zcert.KeyPair{}
	for _, n := range names {
		p, err := zcert.GenerateKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := zcert.WriteFiles(dir, n, p); err != nil {
			t.Fatal(err)
		}
		out[n] = p
	}
	return out
}

// allowDir makes a directory holding the public certificates of names.
func allowDir(t *testing.T, from string, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(from, n+".key"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n+".key"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// With CurveTails, apps and tails have lists of their own: an app's key
// can send but not subscribe, a tail's key can subscribe but not send.
// (Without it, one key would let a compromised app host read every
// app's entries.)
func TestCurveTailsSeparateReadersFromWriters(t *testing.T) {
	ctx := testsupport.Context(t)
	dir := t.TempDir()
	k := certs(t, dir, "collector", "app", "tail")
	var log syncBuffer
	c := startCollector(t, Config{
		CurveSecret:  filepath.Join(dir, "collector.key_secret"),
		CurveClients: allowDir(t, dir, "app"),
		CurveTails:   allowDir(t, dir, "tail"),
		Log:          slog.New(slog.NewTextHandler(&log, nil)),
	})
	defer c.stop()
	as := func(name string) *zsock.CurveConfig {
		return &zsock.CurveConfig{SecretKey: k[name].Secret, ServerKey: k["collector"].Public}
	}
	connected := func(endpoint string, dial func(eps []zsock.Endpoint, opts zsock.Options) func()) error {
		eps, err := zsock.ParseEndpoints(endpoint)
		if err != nil {
			t.Fatal(err)
		}
		events := make(chan zsock.Event, 16)
		stop := dial(eps, zsock.Options{OnEvent: func(e zsock.Event) { events <- e }})
		defer stop()
		for {
			select {
			case e := <-events:
				switch e.Kind {
				case zsock.Connected:
					return nil
				case zsock.DialFailed:
					return e.Err
				}
			case <-ctx.Done():
				t.Fatal("no connection news")
			}
		}
	}
	push := func(name string) error {
		return connected(c.PullEndpoint(), func(eps []zsock.Endpoint, opts zsock.Options) func() {
			opts.Curve = as(name)
			p := zsock.DialPush(eps, opts)
			return func() { p.Close() }
		})
	}
	sub := func(name string) error {
		return connected(c.PubEndpoint(), func(eps []zsock.Endpoint, opts zsock.Options) func() {
			opts.Curve = as(name)
			s := zsock.DialSub(eps, []string{""}, opts)
			return func() { s.Close() }
		})
	}
	if err := push("app"); err != nil {
		t.Fatalf("the app's key sending: %v", err)
	}
	if err := sub("tail"); err != nil {
		t.Fatalf("the tail's key subscribing: %v", err)
	}
	if err := sub("app"); !errors.Is(err, zsock.ErrUnauthorized) {
		t.Fatalf("the app's key subscribing: %v, want refused", err)
	}
	if err := push("tail"); !errors.Is(err, zsock.ErrUnauthorized) {
		t.Fatalf("the tail's key sending: %v, want refused", err)
	}
	// The operator reads which key was refused, to list it or hunt it.
	// (At most one such line a second: the first refusal is the one.)
	testsupport.WaitFor(t, ctx, "a refused key in the log", func() bool {
		return strings.Contains(log.String(), k["tail"].Public.String()) || strings.Contains(log.String(), k["app"].Public.String())
	})
	// The client hears ERROR as the server counts: wait for the count.
	testsupport.WaitFor(t, ctx, "a refusal counted on each port", func() bool {
		st := c.Stats()
		return st.ProducerPeers.Unauthorized >= 1 && st.SubscriberPeers.Unauthorized >= 1
	})
}

// CURVE settings that would leave a port open by mistake, or do nothing,
// are refused by New, naming the field.
func TestCurveSettingsThatContradictAreRefused(t *testing.T) {
	dir := t.TempDir()
	certs(t, dir, "collector")
	secret := filepath.Join(dir, "collector.key_secret")
	for _, tc := range []struct {
		name  string
		cfg   Config
		field string
	}{
		{"secret without a word on clients", Config{CurveSecret: secret}, "CurveSecret"},
		{"clients without a secret", Config{CurveClients: dir}, "CurveClients"},
		{"any client without a secret", Config{CurveAnyClient: true}, "CurveAnyClient"},
		{"tails without a secret", Config{CurveTails: dir}, "CurveTails"},
		{"a list and any client", Config{CurveSecret: secret, CurveClients: dir, CurveAnyClient: true}, "CurveAnyClient"},
		{"forward key without its pair", Config{Forward: "tcp://127.0.0.1:1", ForwardCurveServer: filepath.Join(dir, "collector.key")}, "ForwardCurveSecret"},
		{"forward keys without forward", Config{ForwardCurveServer: filepath.Join(dir, "collector.key"), ForwardCurveSecret: secret}, "ForwardCurveServer"},
		{"a missing secret file", Config{CurveSecret: filepath.Join(dir, "nope.key_secret"), CurveAnyClient: true}, "CurveSecret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Pull, tc.cfg.Pub, tc.cfg.NoFile = "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", true
			c, err := New(tc.cfg)
			if err == nil {
				stopped, stop := context.WithCancel(context.Background())
				stop()
				c.Run(stopped)
				t.Fatal("accepted")
			}
			var ce *CurveError
			if !errors.As(err, &ce) || ce.Field != tc.field || !strings.Contains(err.Error(), "Config."+tc.field) {
				t.Fatalf("error %v, want a CurveError naming Config.%s", err, tc.field)
			}
		})
	}
}

// Limits.HandshakeRate reaches the CURVE port, and what it refuses is
// counted in Stats (and so in peers_rejected_total).
func TestCurveHandshakeRateIsCounted(t *testing.T) {
	ctx := testsupport.Context(t)
	dir := t.TempDir()
	k := certs(t, dir, "collector", "app")
	c := startCollector(t, Config{
		CurveSecret:    filepath.Join(dir, "collector.key_secret"),
		CurveAnyClient: true,
		Limits:         Limits{HandshakeRate: 0.001, MaxConnsPerHost: 2}, // a burst of 2, then next to nothing
	})
	defer c.stop()
	eps, err := zsock.ParseEndpoints(c.PullEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; c.Stats().ProducerPeers.OverHandshakeRate == 0; i++ {
		if i == 10 {
			t.Fatal("10 handshakes from one host at a burst of 2: none refused")
		}
		events := make(chan zsock.Event, 16)
		p := zsock.DialPush(eps, zsock.Options{
			Curve:   &zsock.CurveConfig{SecretKey: k["app"].Secret, ServerKey: k["collector"].Public},
			OnEvent: func(e zsock.Event) { events <- e },
		})
		for done := false; !done; {
			select {
			case e := <-events:
				done = e.Kind == zsock.Connected || e.Kind == zsock.DialFailed
			case <-ctx.Done():
				t.Fatal("no connection news")
			}
		}
		p.Close()
	}
}
