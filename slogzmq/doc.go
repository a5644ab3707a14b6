// Package slogzmq ships log/slog records to a zmqlog collector over
// ZeroMQ.
//
//	h, err := slogzmq.NewHandler("tcp://127.0.0.1:5557", &slogzmq.Options{App: "billing"})
//	if err != nil {
//		return err // a malformed endpoint or option; the collector may well be down
//	}
//	defer h.Close() // flushes, bounded
//	slogzmq.AddToDefault(h) // or slog.New(h), or in a slog.NewMultiHandler
//
// # The one line
//
// AddToDefault adds the handler next to whatever the default logger
// already does. In a program that has set a default handler of its own it
// is exactly the line from slog's documentation:
//
//	slog.SetDefault(slog.New(slog.NewMultiHandler(slog.Default().Handler(), h)))
//
// That line must not be used while the default is still slog's built-in
// handler (a program that never called slog.SetDefault): the built-in
// handler writes through the log package, which SetDefault routes back
// into slog, and the first record deadlocks. AddToDefault handles that
// case by writing the same lines to the same place itself.
//
// # What a collector receives
//
// Each record exactly as slog.JSONHandler encodes it with the same
// Options (ReplaceAttr, AddSource), less the line ending: the same keys,
// groups as nested objects, LogValuers resolved, errors as their text.
// The encoder is slog.JSONHandler's own, taken from log/slog and tested
// byte for byte against it (testing/slogtest passes too), so any consumer
// of slog JSON reads it.
//
// # Per-request loggers
//
// [slog.Logger.With] costs its attributes once, formatted into bytes then
// and there, as in slog.JSONHandler; a record costs only its own
// attributes, however many With and WithGroup calls lie above it. A
// logger made per request with the request's attributes costs about what
// it costs with slog.JSONHandler (BenchmarkPerRequest). Closing a handler
// derived with WithAttrs or WithGroup only flushes: the shipper belongs
// to the handler [NewHandler] returned. The topic is slog's name for the
// level, then "." and the app: "INFO.billing", "ERROR+4.billing".
//
// # The app never waits
//
// Handle encodes on the caller's goroutine, copies the bytes into the
// shipper's queue and returns; a collector that is down or slow costs
// dropped records, counted in h.Shipper().Stats(), never a blocked
// caller. slog has no fatal level, so nothing is flushed on the way: call
// Flush or Close before the program exits.
package slogzmq
