package zsock

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Endpoint is a parsed ZeroMQ endpoint: tcp://host:port or ipc:///path.
type Endpoint struct {
	// Transport is "tcp" or "ipc".
	Transport string
	// Address is what the net package dials or listens on: "host:port"
	// for tcp (":port" for tcp://*:port), the socket path for ipc.
	Address string
	raw     string
}

// String returns the endpoint as the user wrote it.
func (e Endpoint) String() string { return e.raw }

// network is the net package's name for the transport.
func (e Endpoint) network() string {
	if e.Transport == "ipc" {
		return "unix"
	}
	return "tcp"
}

// maxIPCPath is the longest path a Unix socket address holds on Linux
// (sun_path is 108 bytes including the terminating NUL).
const maxIPCPath = 107

// ParseEndpoint parses one endpoint for connecting (bind false) or for
// binding (bind true). Only binding accepts the wildcard host "*" and the
// ephemeral ports "*" and 0. The error names the endpoint and says what is
// wrong with it, in the user's terms (as net.Dial's do), with no package
// prefix: it reaches users through the packages above.
func ParseEndpoint(s string, bind bool) (Endpoint, error) {
	ep, err := parseEndpoint(s, bind)
	if err != nil {
		return Endpoint{}, fmt.Errorf("bad endpoint %q: %w", s, err)
	}
	return ep, nil
}

// ParseEndpoints parses a comma-separated list of endpoints to connect to.
// Blank items are refused, so a stray comma is reported, not ignored.
func ParseEndpoints(list string) ([]Endpoint, error) {
	if strings.TrimSpace(list) == "" {
		return nil, errors.New("no endpoint given")
	}
	var eps []Endpoint
	for _, item := range strings.Split(list, ",") {
		ep, err := ParseEndpoint(strings.TrimSpace(item), false)
		if err != nil {
			return nil, err
		}
		eps = append(eps, ep)
	}
	return eps, nil
}

func parseEndpoint(s string, bind bool) (Endpoint, error) {
	transport, rest, ok := strings.Cut(s, "://")
	if !ok {
		return Endpoint{}, errors.New(`want transport://address, e.g. "tcp://127.0.0.1:5557" or "ipc:///tmp/zmqlog.sock"`)
	}
	switch transport {
	case "tcp":
		addr, err := parseTCPAddress(rest, bind)
		if err != nil {
			return Endpoint{}, err
		}
		return Endpoint{Transport: "tcp", Address: addr, raw: s}, nil
	case "ipc":
		switch {
		case rest == "":
			return Endpoint{}, errors.New("ipc endpoint has no path")
		case rest == "*" || rest == "@":
			return Endpoint{}, errors.New("ipc wildcard and abstract paths are not supported; give a file path")
		case len(rest) > maxIPCPath:
			return Endpoint{}, fmt.Errorf("ipc path is %d bytes long, a Unix socket path holds at most %d", len(rest), maxIPCPath)
		case strings.ContainsRune(rest, 0):
			return Endpoint{}, errors.New("ipc path contains a NUL byte")
		}
		return Endpoint{Transport: "ipc", Address: rest, raw: s}, nil
	case "":
		return Endpoint{}, errors.New("missing transport before ://; want tcp or ipc")
	default:
		return Endpoint{}, fmt.Errorf("unsupported transport %q; want tcp or ipc", transport)
	}
}

func parseTCPAddress(hostport string, bind bool) (string, error) {
	if hostport == "" {
		return "", errors.New("tcp endpoint has no host:port")
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", fmt.Errorf("want host:port after tcp:// (IPv6 hosts in brackets, e.g. [::1]:5557): %v", stripAddrErr(err))
	}
	switch {
	case host == "*":
		if !bind {
			return "", errors.New(`host "*" (all interfaces) is only for binding; to connect, name a host`)
		}
		host = ""
	case host == "":
		return "", errors.New(`missing host; use "*" to bind every interface or a name or address such as 127.0.0.1`)
	case strings.ContainsAny(host, "/ \t"):
		return "", fmt.Errorf("host %q is not a host name or IP address", host)
	}
	switch {
	case port == "*" && bind:
		port = "0"
	case port == "":
		return "", errors.New("missing port")
	default:
		n, err := strconv.Atoi(port)
		if err != nil {
			return "", fmt.Errorf("port %q is not a number", port)
		}
		if n < 0 || n > 65535 || (n == 0 && !bind) {
			return "", fmt.Errorf("port %d is out of range 1-65535", n)
		}
	}
	return net.JoinHostPort(host, port), nil
}

// stripAddrErr drops the "address X: " prefix net.SplitHostPort puts on its
// errors, since the caller already names the endpoint.
func stripAddrErr(err error) string {
	var ae *net.AddrError
	if errors.As(err, &ae) {
		return ae.Err
	}
	return err.Error()
}
