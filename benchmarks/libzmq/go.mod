module github.com/zmqlog/zmqlog/benchmarks/libzmq

go 1.26.0

// The comparison with libzmq needs cgo and Debian's libzmq3-dev, so it
// lives in a module of its own: the library's go.mod stays pure Go.
replace github.com/zmqlog/zmqlog => ../..

require (
	github.com/pebbe/zmq4 v1.4.0
	github.com/zmqlog/zmqlog v0.0.0-00010101000000-000000000000
	go.uber.org/zap v1.28.0
)

require (
	github.com/go-zeromq/goczmq/v4 v4.2.2 // indirect
	github.com/go-zeromq/zmq4 v0.17.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.44.0 // indirect
)
