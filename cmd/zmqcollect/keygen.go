package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/zmqlog/zmqlog/internal/cli"
	"github.com/zmqlog/zmqlog/internal/zcert"
)

// keygen is "zmqcollect keygen NAME": a new CURVE key pair written as
// NAME.key and NAME.key_secret in the current directory, the files
// pyzmq's zmq.auth.create_certificates writes.
func keygen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("zmqcollect keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: zmqcollect keygen NAME

Makes a new CURVE key pair and writes it in the current directory as
  NAME.key         the public key: copy it to whoever must accept this key
                   (a collector's directory of allowed clients, or the
                   clients of this collector)
  NAME.key_secret  both keys, mode 0600: keep it where it is used, private
in the format pyzmq's zmq.auth and czmq's zcert read and write. Existing
files are never overwritten.
`)
	}
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return cli.Usage(fmt.Errorf("zmqcollect keygen takes one NAME (the files are NAME.key and NAME.key_secret), got %q", fs.Args()))
	}
	name := fs.Arg(0)
	if err := zcert.ValidName(name); err != nil {
		return cli.Usage(fmt.Errorf("zmqcollect keygen: %w", err))
	}
	pair, err := zcert.GenerateKeyPair()
	if err != nil {
		return fmt.Errorf("zmqcollect keygen: %w", err)
	}
	dir, err := filepath.Abs(".")
	if err != nil {
		return fmt.Errorf("zmqcollect keygen: the current directory: %w", err)
	}
	pub, sec, err := zcert.WriteFiles(dir, name, pair)
	if err != nil {
		var fe *zcert.FileError
		if errors.As(err, &fe) {
			return fmt.Errorf("zmqcollect keygen: %s: %w", fe.Path, fe.Err)
		}
		return fmt.Errorf("zmqcollect keygen: %w", err)
	}
	fmt.Fprintf(stdout, "public key: %s\npublic certificate: %s\nsecret certificate: %s (mode 0600; keep it private)\n", pair.Public, pub, sec)
	return nil
}
