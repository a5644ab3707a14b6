package libzmq

// The receive loop of BenchmarkFanInLibzmq's sink=libzmq, written in C so
// that nothing but libzmq runs per message: no cgo call, no copy into Go
// memory, no Go scheduler. (Test files cannot use cgo, so it lives here.)

/*
#cgo pkg-config: libzmq
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

static void *sink_socket;
static _Atomic int64_t sink_target; // entries to reach; 0: nobody waits
static _Atomic int64_t sink_entries, sink_messages;

// sink_open binds a PULL socket on loopback and writes its endpoint.
static int sink_open(char *endpoint, size_t len) {
	void *ctx = zmq_ctx_new();
	if (ctx == NULL) return zmq_errno();
	sink_socket = zmq_socket(ctx, ZMQ_PULL);
	if (sink_socket == NULL) return zmq_errno();
	if (zmq_bind(sink_socket, "tcp://127.0.0.1:*") != 0) return zmq_errno();
	if (zmq_getsockopt(sink_socket, ZMQ_LAST_ENDPOINT, endpoint, &len) != 0) return zmq_errno();
	return 0;
}

// One write of a whole line: a pipe keeps it in one piece beside the
// Go side's lines.
static void sink_reached(int64_t entries) {
	char line[64];
	int n = snprintf(line, sizeof line, "reached %lld %lld\n", (long long)entries, (long long)atomic_load(&sink_messages));
	if (write(1, line, n) < 0) {}
}

// sink_expect asks for a "reached" line once n more entries have come.
// Whichever of it and the loop sees the target reached first clears it.
static void sink_expect(int64_t n) {
	int64_t t = atomic_load(&sink_entries) + n;
	atomic_store(&sink_target, t);
	int64_t e = atomic_load(&sink_entries);
	if (e >= t && atomic_compare_exchange_strong(&sink_target, &t, 0)) sink_reached(e);
}

// sink_loop receives every message until an error, counting messages and
// entries: a zmqlog batch (one frame, "\xFFZL", a big-endian entry count
// at offset 15) holds its count, any other message one entry.
static int sink_loop(void) {
	zmq_msg_t msg;
	zmq_msg_init(&msg);
	int64_t n = 1;
	int first = 1;
	for (;;) {
		if (zmq_msg_recv(&msg, sink_socket, 0) < 0) {
			if (zmq_errno() == EINTR) continue;
			return zmq_errno();
		}
		if (first) {
			const unsigned char *p = zmq_msg_data(&msg);
			size_t size = zmq_msg_size(&msg);
			n = 1;
			if (size >= 19 && memcmp(p, "\xFFZL", 3) == 0)
				n = ((int64_t)p[15] << 24) | (p[16] << 16) | (p[17] << 8) | p[18];
		}
		if (zmq_msg_more(&msg)) {
			first = 0;
			continue;
		}
		first = 1;
		atomic_fetch_add(&sink_messages, 1);
		int64_t e = atomic_fetch_add(&sink_entries, n) + n;
		int64_t t = atomic_load(&sink_target);
		if (t > 0 && e >= t && atomic_compare_exchange_strong(&sink_target, &t, 0)) sink_reached(e);
	}
}

static const char *sink_strerror(int e) { return zmq_strerror(e); }
*/
import "C"

import (
	"errors"
	"unsafe"
)

func cSinkError(rc C.int) error {
	return errors.New(C.GoString(C.sink_strerror(rc)))
}

// cSinkOpen binds the C sink's PULL socket and returns its endpoint.
func cSinkOpen() (string, error) {
	var buf [256]C.char
	if rc := C.sink_open(&buf[0], C.size_t(unsafe.Sizeof(buf))); rc != 0 {
		return "", cSinkError(rc)
	}
	return C.GoString(&buf[0]), nil
}

// cSinkLoop receives until an error; it says "reached ENTRIES MESSAGES"
// on stdout for each cSinkExpect.
func cSinkLoop() error { return cSinkError(C.sink_loop()) }

// cSinkExpect asks the loop to say "reached" once n more entries came.
func cSinkExpect(n int64) { C.sink_expect(C.int64_t(n)) }
