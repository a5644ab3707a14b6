package testcollector

import (
	"testing"

	"github.com/zmqlog/zmqlog/internal/zsock"
)

// Subscribe dials a SUB socket to endpoint for topics, closed when the
// test ends.
func Subscribe(t testing.TB, endpoint string, opts zsock.Options, topics ...string) *zsock.Subscriber {
	t.Helper()
	ep, err := zsock.ParseEndpoint(endpoint, false)
	if err != nil {
		t.Fatal(err)
	}
	s := zsock.DialSub([]zsock.Endpoint{ep}, topics, opts)
	t.Cleanup(func() { s.Close() })
	return s
}
