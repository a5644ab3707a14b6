package zapzmq

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/zmqlog/zmqlog/internal/testcollector"
	"github.com/zmqlog/zmqlog/internal/testsupport"
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
