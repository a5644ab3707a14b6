package zsock

// Outgoing is one message handed to a Pusher, carrying its own identity:
// the pusher tells the message itself which connection it is about to be
// written to, when that write failed, and how it ended. The layer above
// (the shipper numbering its batches per collector, a collector
// renumbering what it forwards) keeps its state in the message and needs
// no lookup keyed on the message's bytes.
//
// A pusher calls these from its connection writers, one goroutine per
// endpoint: concurrently for different messages, never for the same one.
// Each must be quick: the writer calls them between two writes.
type Outgoing interface {
	// Route is called just before the message is encoded for the
	// connection to endpoint (its index in the order given to DialPush).
	Route(endpoint int)
	// Frames returns the frames to write; it is called right after Route.
	Frames() [][]byte
	// Unroute undoes Route when the write failed before the message went
	// out whole: the message goes back to the queue and is routed again
	// for whichever connection sends it. A failed write unroutes its
	// messages newest first, so what Route hands out per endpoint (a
	// sequence number) stays contiguous.
	Unroute(endpoint int)
	// Finish is called exactly once for every message Send or TrySend
	// accepted: written reports whether it was written whole to a
	// connection (true) or abandoned at Close (false). After Finish the
	// pusher no longer touches the message.
	Finish(written bool)
}

// Plain is an Outgoing with no identity of its own: frames sent as they
// are, needing no numbering and no report of how they ended.
type Plain [][]byte

// Route does nothing: a plain message is the same on every connection.
func (Plain) Route(int) {}

// Frames returns the message's frames.
func (m Plain) Frames() [][]byte { return m }

// Unroute does nothing.
func (Plain) Unroute(int) {}

// Finish does nothing: Pusher.Stats counts what was sent and abandoned.
func (Plain) Finish(bool) {}
