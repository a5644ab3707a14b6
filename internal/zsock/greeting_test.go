package zsock

import (
	"context"
	"testing"

	"github.com/go-zeromq/zmq4"

	"github.com/zmqlog/zmqlog/internal/testsupport"
)

// TestZmq4ClientThroughTheSplitGreeting: our listener sends its greeting
// in two parts and waits for the peer's mechanism before the second (so
// that a libzmq peer of another mechanism is told apart); go-zeromq/zmq4,
// which sends its whole greeting before reading ours, still connects and
// delivers, to a NULL listener and through a PUB to a zmq4 SUB; and our
// dialler delivers to a zmq4 listener.
func TestZmq4ClientThroughTheSplitGreeting(t *testing.T) {
	ctx := testsupport.Context(t)
	pull := listenPull(t, "tcp://127.0.0.1:0", Options{})
	zctx, cancel := context.WithCancel(ctx)
	defer cancel()
	push := zmq4.NewPush(zctx)
	defer push.Close()
	if err := push.Dial(pull.Endpoint()); err != nil {
		t.Fatal(err)
	}
	if err := push.Send(zmq4.NewMsgFrom([]byte("INFO"), []byte("from zmq4"))); err != nil {
		t.Fatal(err)
	}
	if m, err := pull.Recv(ctx); err != nil || string(m.Frames[1]) != "from zmq4" {
		t.Fatalf("from a zmq4 PUSH: %q, %v", m.Frames, err)
	}

	pub := listenPub(t, "tcp://127.0.0.1:0", Options{})
	sub := zmq4.NewSub(zctx)
	defer sub.Close()
	if err := sub.Dial(pub.Endpoint()); err != nil {
		t.Fatal(err)
	}
	if err := sub.SetOption(zmq4.OptionSubscribe, "ERROR"); err != nil {
		t.Fatal(err)
	}
	waitTopics(t, ctx, pub, 1, "ERROR")
	pub.Publish([][]byte{[]byte("ERROR"), []byte("to zmq4")})
	if m, err := sub.Recv(); err != nil || string(m.Frames[1]) != "to zmq4" {
		t.Fatalf("to a zmq4 SUB: %q, %v", m.Frames, err)
	}

	// Our dialler waits only for the peer's first 11 bytes: a zmq4
	// listener, which also sends its greeting whole, takes it.
	zpull := zmq4.NewPull(zctx)
	defer zpull.Close()
	if err := zpull.Listen("tcp://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ours := dialPush(t, "tcp://"+zpull.Addr().String(), Options{})
	if err := ours.Send(ctx, Plain{[]byte("INFO"), []byte("to a zmq4 PULL")}); err != nil {
		t.Fatal(err)
	}
	if m, err := zpull.Recv(); err != nil || string(m.Frames[1]) != "to a zmq4 PULL" {
		t.Fatalf("to a zmq4 PULL: %q, %v", m.Frames, err)
	}
}
