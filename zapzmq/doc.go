// Package zapzmq ships zap logs to a zmqlog collector over ZeroMQ.
//
// Three ways in, from most to least code:
//
// A core of your own, in a tee with whatever the logger already writes:
//
//	core, err := zapzmq.NewCore("tcp://127.0.0.1:5557", zapzmq.WithApp("checkout"))
//	if err != nil {
//		return err // a malformed endpoint or option; the collector may well be down
//	}
//	defer core.Close() // flushes, bounded
//	logger = logger.WithOptions(zapzmq.Tee(core))
//
// Or only configuration: import the package for its side effect, add an
// output path, and close the sinks before exiting:
//
//	import _ "github.com/zmqlog/zmqlog/zapzmq"
//
//	cfg := zap.NewProductionConfig()
//	cfg.OutputPaths = append(cfg.OutputPaths, "zmq+tcp://127.0.0.1:5557?app=checkout")
//	logger, _ := cfg.Build()
//	defer zapzmq.CloseSinks()
//	defer logger.Sync()
//
// The sink sees only encoded bytes, so it reads each entry's level back
// from the JSON "level" key (levelKey=NAME in the URL for another key) or
// from a console line's level field. ipc endpoints work too:
// zmq+ipc:///run/zmqlog.sock. To a collector that speaks CURVE, add the
// collector's public certificate and the app's secret one:
// ?curve-server=collector.key&curve-secret=app.key_secret.
//
// # What a collector receives
//
// Each entry is exactly what the encoder produced (zap's production JSON
// encoder by default, any zapcore.Encoder with WithEncoder), without the
// trailing line ending; the collector stores one entry per line. The
// topic is the level as zap capitalises it, then "." and the app name
// when one is set: "ERROR.checkout", "DPANIC.checkout".
//
// # The app never waits
//
// Write encodes on the caller's goroutine, copies the bytes into the
// shipper's queue and returns; a collector that is down or slow costs
// dropped entries, counted in core.Shipper().Stats(), never a blocked
// caller. The exception is deliberate and bounded: entries above Error
// (DPanic, Panic, Fatal) are flushed before Write returns, within the
// sync timeout (5s by default), so that a Fatal line reaches the
// collector before os.Exit. Sync does the same for everything written.
package zapzmq
