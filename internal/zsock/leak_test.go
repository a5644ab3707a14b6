package zsock

import (
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"os"
	"testing"
)

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(entries)
}

// Sockets of every kind, with live connections and a peer dropped for bad
// input, give back every file descriptor when closed. (goleak, run by
// TestMain, checks the goroutines.)
func TestCloseReleasesFileDescriptors(t *testing.T) {
	cycle := func() {
		ctx := testsupport.Context(t)
		pull, err := ListenPull(mustParse(t, "tcp://127.0.0.1:0", true), Options{})
		if err != nil {
			t.Fatal(err)
		}
		pub, err := ListenPub(mustParse(t, testsupport.IPC(t, "fd.sock"), true), Options{})
		if err != nil {
			t.Fatal(err)
		}
		push := DialPush([]Endpoint{mustParse(t, pull.Endpoint(), false)}, Options{})
		sub := DialSub([]Endpoint{mustParse(t, pub.Endpoint(), false)}, []string{""}, Options{})
		if err := push.Send(ctx, Plain(numbered("INFO", 1, 8))); err != nil {
			t.Fatal(err)
		}
		recvN(t, ctx, pull, 1)
		waitTopics(t, ctx, pub, 1, "")
		pub.Publish(numbered("INFO", 1, 8))
		recvN(t, ctx, sub, 1)
		bad := dialRaw(t, pull.Endpoint())
		bad.write([]byte("garbage"))
		if err := bad.waitClosed(); err != nil {
			t.Fatal(err)
		}
		bad.nc.Close()
		for _, c := range []interface{ Close() error }{push, sub, pull, pub} {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil { // idempotent
				t.Fatal(err)
			}
		}
	}
	cycle() // let the runtime open what it keeps (the poller)
	before := openFDs(t)
	for range 3 {
		cycle()
	}
	if after := openFDs(t); after != before {
		t.Fatalf("%d file descriptors open before, %d after", before, after)
	}
}
