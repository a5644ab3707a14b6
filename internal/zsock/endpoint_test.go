package zsock

import (
	"strings"
	"testing"
)

func TestParseEndpoint(t *testing.T) {
	good := []struct {
		in        string
		bind      bool
		transport string
		addr      string
	}{
		{"tcp://127.0.0.1:5557", false, "tcp", "127.0.0.1:5557"},
		{"tcp://localhost:5557", false, "tcp", "localhost:5557"},
		{"tcp://[::1]:5557", false, "tcp", "[::1]:5557"},
		{"tcp://*:5557", true, "tcp", ":5557"},
		{"tcp://127.0.0.1:*", true, "tcp", "127.0.0.1:0"},
		{"tcp://127.0.0.1:0", true, "tcp", "127.0.0.1:0"},
		{"ipc:///tmp/zmqlog.sock", false, "ipc", "/tmp/zmqlog.sock"},
		{"ipc://relative.sock", true, "ipc", "relative.sock"},
	}
	for _, tc := range good {
		ep, err := ParseEndpoint(tc.in, tc.bind)
		if err != nil {
			t.Errorf("ParseEndpoint(%q, %v): %v", tc.in, tc.bind, err)
			continue
		}
		if ep.Transport != tc.transport || ep.Address != tc.addr || ep.String() != tc.in {
			t.Errorf("ParseEndpoint(%q) = %+v, want %s %s", tc.in, ep, tc.transport, tc.addr)
		}
	}

	bad := []struct {
		in   string
		bind bool
		says string
	}{
		{"127.0.0.1:5557", false, "want transport://address"},
		{"udp://127.0.0.1:5557", false, `unsupported transport "udp"`},
		{"://127.0.0.1:5557", false, "missing transport"},
		{"tcp://", false, "no host:port"},
		{"tcp://127.0.0.1", false, "want host:port"},
		{"tcp://127.0.0.1:", false, "missing port"},
		{"tcp://127.0.0.1:http", false, `port "http" is not a number`},
		{"tcp://127.0.0.1:70000", false, "out of range"},
		{"tcp://127.0.0.1:0", false, "out of range"},
		{"tcp://127.0.0.1:*", false, `port "*" is not a number`},
		{"tcp://*:5557", false, "only for binding"},
		{"tcp://:5557", true, "missing host"},
		{"tcp://::1:5557", false, "want host:port"},
		{"ipc://", false, "no path"},
		{"ipc://" + strings.Repeat("x", 200), false, "at most 107"},
	}
	for _, tc := range bad {
		_, err := ParseEndpoint(tc.in, tc.bind)
		if err == nil {
			t.Errorf("ParseEndpoint(%q, %v) succeeded, want an error saying %q", tc.in, tc.bind, tc.says)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.says) || !strings.Contains(msg, tc.in) {
			t.Errorf("ParseEndpoint(%q) error %q: want it to name the endpoint and say %q", tc.in, msg, tc.says)
		}
	}
}

func TestParseEndpoints(t *testing.T) {
	eps, err := ParseEndpoints("tcp://127.0.0.1:1, ipc:///tmp/a.sock")
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 2 || eps[0].Address != "127.0.0.1:1" || eps[1].Address != "/tmp/a.sock" {
		t.Fatalf("got %+v", eps)
	}
	for _, in := range []string{"", "tcp://127.0.0.1:1,", "tcp://127.0.0.1:1,,tcp://127.0.0.1:2"} {
		if _, err := ParseEndpoints(in); err == nil {
			t.Errorf("ParseEndpoints(%q) succeeded, want an error", in)
		}
	}
}
