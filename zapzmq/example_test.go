package zapzmq_test

import (
	"context"
	"fmt"

	"github.com/go-zeromq/zmq4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/zmqlog/zmqlog/wire"
	"github.com/zmqlog/zmqlog/zapzmq"
)

// Add shipping to a logger you already have, with one line. The logger's
// own output (here zap's example logger, writing to stdout) is unchanged;
// a collector receives the same entries under their level's topic.
func Example() {
	// The smallest collector: a ZeroMQ PULL socket on loopback.
	pull := zmq4.NewPull(context.Background())
	defer pull.Close()
	if err := pull.Listen("tcp://127.0.0.1:0"); err != nil {
		panic(err)
	}

	cfg := zap.NewProductionEncoderConfig()
	cfg.TimeKey = "" // keep this example's output stable
	core, err := zapzmq.NewCore("tcp://"+pull.Addr().String(),
		zapzmq.WithApp("checkout"), zapzmq.WithEncoder(zapcore.NewJSONEncoder(cfg)))
	if err != nil {
		panic(err)
	}
	logger := zap.NewExample()
	logger = logger.WithOptions(zapzmq.Tee(core)) // the one line

	logger.Info("order placed", zap.Int("items", 3))
	logger.Error("payment declined", zap.String("reason", "card expired"))
	core.Close() // flush what is queued

	fmt.Println("-- the collector received:")
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
	// {"level":"info","msg":"order placed","items":3}
	// {"level":"error","msg":"payment declined","reason":"card expired"}
	// -- the collector received:
	// INFO.checkout {"level":"info","msg":"order placed","items":3}
	// ERROR.checkout {"level":"error","msg":"payment declined","reason":"card expired"}
}
