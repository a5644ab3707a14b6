package zsock

import (
	"context"
	"errors"
	"fmt"
	"github.com/zmqlog/zmqlog/internal/testsupport"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zmqlog/zmqlog/internal/zmtpraw"
)

// A peer that completes the handshake and then neither sends nor answers
// a PING is dropped as silent and counted; our own idle pusher, which
// answers PINGs by itself, stays connected through many heartbeats.
func TestHeartbeatDropsSilentPeerKeepsIdleOne(t *testing.T) {
	ctx := testsupport.Context(t)
	opts, events := withEvents(Options{Heartbeat: 30 * time.Millisecond, HeartbeatTimeout: 100 * time.Millisecond})
	pull := listenPull(t, "tcp://127.0.0.1:0", opts)
	push := dialPush(t, pull.Endpoint(), Options{})
	if err := push.Send(ctx, Plain(numbered("INFO", 0, 8))); err != nil {
		t.Fatal(err)
	}
	recvN(t, ctx, pull, 1)

	r := dialRaw(t, pull.Endpoint())
	r.handshake("PUSH")
	if body, flags := r.readFrame(); flags&flagCommand == 0 || !strings.HasPrefix(string(body), "\x04PING") {
		t.Fatalf("got frame %q (flags %x), want a PING", body, flags)
	}
	ev := waitEvent(t, ctx, events, Rejected)
	if !errors.Is(ev.Err, ErrPeerSilent) {
		t.Fatalf("rejected with %v, want ErrPeerSilent", ev.Err)
	}
	if err := r.waitClosed(); err != nil {
		t.Fatal(err)
	}
	if st := pull.Stats(); st.Silent != 1 || st.Active != 1 {
		t.Fatalf("stats %+v, want Silent 1 and the pusher still active", st)
	}
	// The pusher was idle for the whole time the raw peer took to be
	// found silent (30ms quiet + 100ms timeout, several heartbeats).
	if err := push.Send(ctx, Plain(numbered("INFO", 1, 8))); err != nil {
		t.Fatal(err)
	}
	recvN(t, ctx, pull, 1)
	if st := push.Stats().Endpoints[0]; st.Connects != 1 {
		t.Fatalf("idle pusher reconnected: %+v", st)
	}
}

// Every write sets its own deadline: after a quiet spell longer than the
// write timeout, the PONG to a PING still goes out and the subscriber
// stays. (With the deadline of the last batch left in place, the PONG
// failed with "i/o timeout" and the connection was torn down.)
func TestQuietSpellLongerThanWriteTimeoutKeepsConnection(t *testing.T) {
	ctx := testsupport.Context(t)
	const writeTimeout = 50 * time.Millisecond
	pub, err := ListenPub(mustParse(t, "tcp://127.0.0.1:0", true), Options{WriteTimeout: writeTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	r := dialRaw(t, pub.Endpoint())
	r.handshake("SUB")
	r.write(frame(0, []byte("\x01INFO")))
	waitTopics(t, ctx, pub, 1, "INFO")
	pub.Publish(numbered("INFO", 1, 8))
	r.readFrame()
	r.readFrame()
	// The quiet spell is the scenario itself: no write for 3 timeouts.
	<-time.After(3 * writeTimeout)
	r.write(frame(flagCommand, []byte("\x04PING\x00\x00ctx")))
	if body, flags := r.readFrame(); flags&flagCommand == 0 || string(body) != "\x04PONGctx" {
		t.Fatalf("got %q (flags %x), want PONG echoing the context", body, flags)
	}
	pub.Publish(numbered("INFO", 2, 8))
	r.readFrame()
	if body, _ := r.readFrame(); len(body) < 8 || body[7] != 2 {
		t.Fatalf("second message: %q", body)
	}
}

// dialFrom opens a TCP connection to ep from a given loopback source
// address, so a test can play several hosts on 127.0.0.0/8.
func dialFrom(t *testing.T, src, endpoint string) net.Conn {
	t.Helper()
	ep := mustParse(t, endpoint, false)
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	nc, err := d.Dial("tcp", ep.Address)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(testTimeout))
	t.Cleanup(func() { nc.Close() })
	return nc
}

// One host cannot take every connection slot: past MaxConnsPerHost its
// connections are closed at once and counted, while another host still
// gets in and delivers.
func TestPerHostConnectionCap(t *testing.T) {
	ctx := testsupport.Context(t)
	pull := listenPull(t, "tcp://127.0.0.1:0", Options{MaxConnsPerHost: 3})
	for range 3 {
		r := &rawPeer{t: t, nc: dialFrom(t, "127.0.0.2", pull.Endpoint())}
		r.handshake("PUSH")
	}
	over := &rawPeer{t: t, nc: dialFrom(t, "127.0.0.2", pull.Endpoint())}
	if err := over.waitClosed(); err != nil {
		t.Fatal(err)
	}
	// A raw peer has READY before the socket counts it active: wait for
	// the count rather than read it once.
	for st := pull.Stats(); st.OverHostLimit != 1 || st.Active != 3; st = pull.Stats() {
		if st.OverHostLimit > 1 || st.Active > 3 {
			t.Fatalf("stats %+v, want 1 over the host limit and 3 active", st)
		}
		waitTick(t, ctx)
	}
	sendSome(t, ctx, pull, 10) // from 127.0.0.1
}

// A PULL socket holds at most its receive budget of messages not yet
// returned by Recv (plus one message begun per connection): past it the
// connection stops reading and TCP pushes back on the producer. Nothing
// is lost; the producer goes on once Recv catches up.
func TestReceiveBudgetBoundsWhatPullHolds(t *testing.T) {
	ctx := testsupport.Context(t)
	const size, budget = 16 << 10, 128 << 10
	pull := listenPull(t, "tcp://127.0.0.1:0", Options{RecvBudget: budget, RecvBudgetPerHost: budget, MaxMessageSize: 64 << 10, RecvQueue: 1000})
	push := dialPush(t, pull.Endpoint(), Options{})
	const n = 100
	for i := range n {
		if err := push.Send(ctx, Plain(numbered("INFO", i, size))); err != nil {
			t.Fatal(err)
		}
	}
	bound := uint64(budget + size + 2*frameOverhead)
	for pull.Stats().Messages < budget/size {
		waitTick(t, ctx)
	}
	for i := range n {
		if st := pull.Stats(); st.Buffered > bound {
			t.Fatalf("after %d received: buffered %d bytes, budget %d", i, st.Buffered, bound)
		}
		m := recvN(t, ctx, pull, 1)[0]
		if number(m) != i {
			t.Fatalf("message %d arrived as %d", i, number(m))
		}
	}
	for pull.Stats().Buffered != 0 {
		waitTick(t, ctx)
	}
}

// A frame announced large costs only the bytes that have arrived: a peer
// that announces 1 MiB and sends 10 bytes holds no more than the first
// step of the receive buffer.
func TestAnnouncedFrameSizeIsNotAllocatedUpFront(t *testing.T) {
	ctx := testsupport.Context(t)
	pull := listenPull(t, "tcp://127.0.0.1:0", Options{MaxMessageSize: 4 << 20})
	r := dialRaw(t, pull.Endpoint())
	r.handshake("PUSH")
	r.write(zmtpraw.LongHeader(0, 1<<20))
	r.write(make([]byte, 10))
	for pull.Stats().Buffered == 0 {
		waitTick(t, ctx)
	}
	if got := pull.Stats().Buffered; got > budgetedFirstStep+creditChunk {
		t.Fatalf("a 1 MiB frame with 10 bytes sent holds %d bytes, want at most %d", got, budgetedFirstStep+creditChunk)
	}
}

// Binding an ipc path that a live socket answers on is refused, and
// closing a listener unlinks only the socket file it created.
func TestIPCBindDoesNotStealLivePath(t *testing.T) {
	ctx := testsupport.Context(t)
	ep := testsupport.IPC(t, "live.sock")
	first := listenPull(t, ep, Options{})
	_, err := ListenPull(mustParse(t, ep, true), Options{})
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), ep) {
		t.Fatalf("second bind: %v, want address in use naming %s", err, ep)
	}
	sendSome(t, ctx, first, 5) // the first still owns the path

	// The first one's file is replaced (say, by an operator's restart);
	// closing the first must not unlink the new owner's socket.
	path := strings.TrimPrefix(ep, "ipc://")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	second := listenPull(t, ep, Options{})
	first.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("closing the first listener removed the second's socket: %v", err)
	}
	sendSome(t, ctx, second, 5)
	second.Close()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("closing the owner left its socket file: %v", err)
	}
}

// A socket file left by a process that died (nobody answers on it) is
// replaced, as libzmq does.
func TestIPCBindReplacesStaleSocket(t *testing.T) {
	ctx := testsupport.Context(t)
	ep := testsupport.IPC(t, "stale.sock")
	ln, err := net.Listen("unix", strings.TrimPrefix(ep, "ipc://"))
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	pull := listenPull(t, ep, Options{})
	sendSome(t, ctx, pull, 5)
}

// A host that starts a large message on each of many connections cannot
// make the socket hold more than twice its share: the connection whose
// bytes would pass that is dropped and counted, and other hosts deliver.
func TestMessagesInProgressCannotOverrunTheHostShare(t *testing.T) {
	ctx := testsupport.Context(t)
	const share = 128 << 10
	pull := listenPull(t, "tcp://127.0.0.1:0", Options{RecvBudget: 4 * share, RecvBudgetPerHost: share, MaxMessageSize: share})
	peers := beginMessages(t, ctx, pull, []string{"127.0.0.3"}, 4, share-frameOverhead)
	for _, r := range peers {
		r.nc.Write(make([]byte, share/2)) // may fail: the peer is dropped
	}
	for pull.Stats().OverBudget == 0 {
		waitTick(t, ctx)
	}
	if got := pull.Stats().Buffered; got > 2*share {
		t.Fatalf("one host's messages in progress hold %d bytes, want at most %d", got, 2*share)
	}
	sendSome(t, ctx, pull, 10) // from 127.0.0.1
}

// Many hosts that each begin large messages and stall cannot hold more
// than about four times the budget in progress, nor keep a producer's
// messages from getting through: once messages in progress pass twice the
// budget, the hosts holding more than a fair part are dropped, and a
// producer with a small batch in progress is under it.
func TestStalledMessagesFromManyHostsAreBoundedAndFair(t *testing.T) {
	ctx := testsupport.Context(t)
	const share, total = 64 << 10, 128 << 10
	pull := listenPull(t, "tcp://127.0.0.1:0", Options{RecvBudget: total, RecvBudgetPerHost: share, MaxMessageSize: share})
	var hosts []string
	for h := range 6 {
		hosts = append(hosts, fmt.Sprintf("127.0.0.%d", 20+h))
	}
	attackers := beginMessages(t, ctx, pull, hosts, 2, share-frameOverhead)
	for _, r := range attackers {
		r.nc.Write(make([]byte, share-2*frameOverhead)) // all but the last bytes; may fail: dropped
	}
	for pull.Stats().OverBudget == 0 {
		waitTick(t, ctx)
	}
	sendSome(t, ctx, pull, 50) // from 127.0.0.1, while the rest stall
	if got := pull.Stats().Buffered; got > 4*total+share {
		t.Fatalf("stalled messages hold %d bytes, want at most about four times the budget (%d)", got, 4*total)
	}
}

// beginMessages opens perHost connections from each of hosts (loopback
// addresses), has each announce a message of size bytes, and waits until
// every one has begun it (holds its first step of the receive budget), so
// that no host's later connection waits on its earlier ones.
func beginMessages(t *testing.T, ctx context.Context, pull *Puller, hosts []string, perHost int, size uint64) []*rawPeer {
	t.Helper()
	var peers []*rawPeer
	for _, host := range hosts {
		for range perHost {
			r := &rawPeer{t: t, nc: dialFrom(t, host, pull.Endpoint())}
			r.handshake("PUSH")
			r.write(zmtpraw.LongHeader(0, size))
			peers = append(peers, r)
		}
	}
	for pull.Stats().Buffered < uint64(len(peers))*(firstStep+frameOverhead) {
		waitTick(t, ctx)
	}
	return peers
}
