package collector

import (
	"unsafe"

	"github.com/zmqlog/zmqlog/internal/zsock"
)

// publishBatch publishes a received batch's entries (frames holds their
// [topic, line] pairs) in one call, so that the publisher locks and wakes
// each subscriber's writer once per run of entries, not once per entry;
// it returns how many entries reached a subscriber.
//
// The entries are published shared, not copied: they point into the
// received message, which nothing writes again (the socket allocates
// each message afresh and the store copies what it keeps), and into
// lines handle made for them (wrapped or compacted). pinned is all of
// that (receivedBytes, and the lines handle made); frames and the slice
// made here are added. A subscriber's queue that keeps any entry of the
// batch is charged all of it, whatever it holds of it (see
// zsock.Publisher.PublishShared).
func publishBatch(pub *zsock.Publisher, frames [][]byte, pinned int64) int {
	msgs := make([][][]byte, len(frames)/2)
	for i := range msgs {
		msgs[i] = frames[2*i : 2*i+2 : 2*i+2]
	}
	pinned += int64(cap(frames))*sliceHeader + int64(cap(msgs))*sliceHeader
	return pub.PublishShared(msgs, pinned)
}

// sliceHeader is what one []byte costs in a slice of them.
const sliceHeader = int64(unsafe.Sizeof([]byte(nil)))

// receivedBytes is the memory a received message's frames keep alive:
// their capacity and their slice.
func receivedBytes(frames [][]byte) int64 {
	n := int64(cap(frames)) * sliceHeader
	for _, f := range frames {
		n += int64(cap(f))
	}
	return n
}

// madeBytes is what line, stored for the received data, keeps alive
// beyond the received message: its capacity if it was made (wrapped or
// compacted), 0 if it is data.
func madeBytes(line, data []byte) int64 {
	if unsafe.SliceData(line) == unsafe.SliceData(data) {
		return 0
	}
	return int64(cap(line))
}
