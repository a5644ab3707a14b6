// Package zmqlog ships encoded log entries over ZeroMQ to collectors,
// in batches, without ever making the application wait for the network.
//
// Most programs use it through zapzmq (a zap core) or slogzmq (a slog
// handler), which encode entries and hand them to a [Shipper]. Use a
// Shipper directly to ship entries you encode yourself, or to share one
// set of collector connections between zap and slog in one program:
//
//	s, err := zmqlog.NewShipper("tcp://127.0.0.1:5557", zmqlog.WithApp("checkout"))
//	if err != nil {
//		return err // only a malformed endpoint or option
//	}
//	defer s.Close() // flushes, waiting at most 5s; Shutdown(ctx) takes your deadline
//	s.Ship("ERROR.checkout", []byte(`{"level":"error","msg":"payment declined"}`))
//
// # Delivery
//
// [Shipper.Ship] copies the entry into the open batch and returns; batches leave
// when they reach 64 KiB or after a 5ms linger (partly filled ones at most
// once per 50ms pace, [WithPace]), on one goroutine that owns
// the connections. With no collector reachable, entries queue up to the
// byte budget (8 MiB) and then are dropped and counted; errors are kept
// longer than debug noise. When a collector appears, what was queued is
// delivered in order. With several collectors each batch goes to one of
// them, and a collector that dies or stops reading hands its unsent
// batches to the others.
//
// [Shipper.Stats] answers "did I lose logs, where, how many": every entry
// passed to Ship is Sent, Dropped (with the reason and level) or still
// Queued ([Stats]). An
// entry written to a collector that dies before reading it is lost in
// transit; the collector counts those from the batches' per-stream
// sequence numbers (see PROTOCOL.md). [WithErrorHandler] reports drops and
// unreachable collectors at a bounded rate; the package never writes to a
// log or to stderr on its own.
//
// # Topics
//
// Topics put the level first ("ERROR", "ERROR.checkout") so ZeroMQ prefix
// subscriptions select levels; package [topic] has the scheme and
// [topic.AtLeast] turns "error and above" into prefixes. Package [wire] is
// the batch format.
package zmqlog
