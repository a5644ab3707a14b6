package zapzmq

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/zmqlog/zmqlog/internal/testcollector"
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"github.com/zmqlog/zmqlog/internal/zcert"
	"github.com/zmqlog/zmqlog/internal/zsock"
)

// A program configured only through zap.Config ships by adding one output
// path, and every entry still gets its level's topic.
func TestConfigOnlySink(t *testing.T) {
	for _, tc := range []struct{ name, listen, encoding string }{
		{"tcp json", "tcp://127.0.0.1:0", "json"},
		{"ipc console", "", "console"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testsupport.Context(t)
			listen := tc.listen
			if listen == "" {
				listen = testsupport.IPC(t, "sink.sock")
			}
			col := testcollector.Start(t, listen)
			url := "zmq+" + col.Endpoint() + "?app=cfg"
			file := filepath.Join(t.TempDir(), "app.log")

			cfg := zap.NewProductionConfig()
			cfg.Level = zap.NewAtomicLevelAt(zapcore.DebugLevel)
			cfg.Encoding = tc.encoding
			cfg.Sampling = nil
			cfg.OutputPaths = []string{file, url}
			logger, err := cfg.Build()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { CloseSinks() })
			logger.Debug("d")
			logger.Info("i", zap.String("tab\tin", "value\twith tab"))
			logger.Warn("w")
			logger.Error("e")
			logger.DPanic("dp")
			if err := logger.Sync(); err != nil {
				t.Fatal(err)
			}

			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			// Entries (console ones span lines with their stacktrace) are
			// what the file got, each without its final line ending.
			topics := []string{"DEBUG.cfg", "INFO.cfg", "WARN.cfg", "ERROR.cfg", "DPANIC.cfg"}
			var shipped strings.Builder
			for i, e := range col.ReceiveN(ctx, len(topics)) {
				if e.Topic != topics[i] {
					t.Errorf("entry %d %q under %q, want %q", i, e.Data, e.Topic, topics[i])
				}
				shipped.WriteString(e.Data + "\n")
			}
			if shipped.String() != string(data) {
				t.Errorf("shipped:\n%s\nfile:\n%s", shipped.String(), data)
			}
		})
	}
}

func TestSinkRefusesBadURLs(t *testing.T) {
	for _, u := range []string{
		"zmq+tcp://127.0.0.1",               // no port
		"zmq+tcp://127.0.0.1:5557/path",     // a path on tcp
		"zmq+tcp://127.0.0.1:5557?colour=1", // unknown parameter
		"zmq+ipc://",                        // no path
	} {
		if _, _, err := zap.Open(u); err == nil {
			t.Errorf("zap.Open(%q) succeeded", u)
		} else if !strings.Contains(err.Error(), "zapzmq") {
			t.Errorf("zap.Open(%q): %v", u, err)
		}
	}
}

// The sink URL's curve-server and curve-secret make a configuration-only
// program speak CURVE: its entries reach a CURVE collector, and one
// parameter without the other, or a key file that is missing or
// readable by others, is refused at Open, naming what is wrong.
func TestSinkURLSpeaksCurve(t *testing.T) {
	ctx := testsupport.Context(t)
	dir := t.TempDir()
	server, err := zcert.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	client, err := zcert.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
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

	q := url.Values{"app": {"cfg"}, "curve-server": {serverPub}, "curve-secret": {clientSecret}}
	cfg := zap.NewProductionConfig()
	cfg.Sampling = nil
	cfg.OutputPaths = []string{"zmq+" + pull.Endpoint() + "?" + q.Encode()}
	logger, err := cfg.Build()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { CloseSinks() })
	logger.Error("over curve")
	if err := logger.Sync(); err != nil {
		t.Fatal(err)
	}
	m, err := pull.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Peer.HasCurveKey() || m.Peer.CurveKey != client.Public {
		t.Fatalf("received from a peer with key %x, want the app's", m.Peer.CurveKey)
	}
	if !strings.Contains(string(m.Frames[0]), "over curve") {
		t.Fatalf("received %q", m.Frames[0])
	}

	open := filepath.Join(dir, "open.key_secret")
	data, err := os.ReadFile(clientSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(open, data, 0o644); err != nil {
		t.Fatal(err)
	}
	base := "zmq+tcp://127.0.0.1:5557?"
	for _, tc := range []struct{ query, want string }{
		{url.Values{"curve-server": {serverPub}}.Encode(), "needs both"},
		{url.Values{"curve-secret": {clientSecret}}.Encode(), "needs both"},
		{url.Values{"curve-server": {filepath.Join(dir, "nope.key")}, "curve-secret": {clientSecret}}.Encode(), "nope.key"},
		{url.Values{"curve-server": {serverPub}, "curve-secret": {open}}.Encode(), "chmod 600"},
	} {
		if _, _, err := zap.Open(base + tc.query); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("zap.Open(%q): %v, want an error saying %q", tc.query, err, tc.want)
		}
	}
}
