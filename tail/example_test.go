package tail_test

import (
	"os"

	"github.com/zmqlog/zmqlog/tail"
)

// A Printer turns each entry, with the topic it came under, into the line
// zmqtail prints: the entry's own time, level, [app], logger, message,
// the other fields sorted by key, then the caller; a stacktrace goes
// indented below. slog's source object prints as file:line, a body that
// is not JSON prints after its topic's level, and control characters from
// a producer print escaped.
func ExamplePrinter() {
	p := tail.NewPrinter(os.Stdout, tail.Options{UTC: true})

	// zap's production JSON: epoch seconds, caller as file:line.
	p.Print("ERROR.checkout", []byte(`{"level":"error","ts":1700000000.125,"logger":"payments",`+
		`"caller":"pay/pay.go:88","msg":"card declined","amount":12.5,"code":51,`+
		`"stacktrace":"github.com/acme/pay.Charge\n\t/src/pay/pay.go:88"}`))
	// slog's JSONHandler: RFC 3339 time, source as an object, a value with a space.
	p.Print("INFO.api", []byte(`{"time":"2023-11-14T22:13:21.5Z","level":"INFO",`+
		`"source":{"function":"main.serve","file":"api/main.go","line":42},`+
		`"msg":"listening","addr":":8080","note":"ready to serve"}`))
	// Not JSON: printed as it is, after the level from the topic.
	p.Print("WARN.legacy", []byte("disk 91% full\n"))
	// A producer's escape sequence cannot clear the reader's screen.
	p.Print("INFO.evil", []byte("{\"msg\":\"hi\\u001b[2J\",\"user\":\"x\\ry\"}"))
	// Output:
	// 22:13:20.125 ERROR [checkout] payments: card declined amount=12.5 code=51 caller=pay/pay.go:88
	//     github.com/acme/pay.Charge
	//     	/src/pay/pay.go:88
	// 22:13:21.500 INFO  [api] listening addr=:8080 note="ready to serve" caller=api/main.go:42
	// WARN  [legacy] disk 91% full
	// INFO  [evil] hi\x1b[2J user="x\ry"
}
