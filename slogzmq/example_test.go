package slogzmq_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/go-zeromq/zmq4"

	"github.com/zmqlog/zmqlog/slogzmq"
	"github.com/zmqlog/zmqlog/wire"
)

// Ship slog records to a collector. The records are slog.JSONHandler's
// JSON; the topic is the level, then the app.
func Example() {
	// The smallest collector: a ZeroMQ PULL socket on loopback.
	pull := zmq4.NewPull(context.Background())
	defer pull.Close()
	if err := pull.Listen("tcp://127.0.0.1:0"); err != nil {
		panic(err)
	}

	h, err := slogzmq.NewHandler("tcp://"+pull.Addr().String(), &slogzmq.Options{
		App: "billing",
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && groups == nil {
				return slog.Attr{} // keep this example's output stable
			}
			return a
		},
	})
	if err != nil {
		panic(err)
	}
	logger := slog.New(h).With("invoice", "INV-7")
	logger.Info("invoice sent")
	logger.WithGroup("payment").Error("card declined", "code", 51)
	h.Close() // flush what is queued

	for received := 0; received < 2; {
		msg, err := pull.Recv()
		if err != nil {
			panic(err)
		}
		batch, err := wire.Decode(msg.Frames)
		if err != nil {
			panic(err)
		}
		for topic, entry := range batch.Entries() {
			fmt.Printf("%s %s\n", topic, entry)
			received++
		}
	}
	// Output:
	// INFO.billing {"level":"INFO","msg":"invoice sent","invoice":"INV-7"}
	// ERROR.billing {"level":"ERROR","msg":"card declined","invoice":"INV-7","payment":{"code":51}}
}
