// Package cli is what zmqcollect's and zmqtail's main functions share:
// signal handling, printing the error, and exit codes in one place.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// UsageError is a bad flag, flag value or argument: exit status 2.
// Printed is set when the flag package has already said what is wrong.
type UsageError struct {
	Err     error
	Printed bool
}

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usage wraps err as a usage error not yet printed.
func Usage(err error) error { return UsageError{Err: err} }

// Run is a command's body: main only calls it.
type Run func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error

// Main runs run with a context that ends on SIGINT or SIGTERM, prints its
// error, and exits: 0 on success or --help, 2 for usage errors, 1 else.
func Main(run Run) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	var ue UsageError
	if err != nil && !errors.Is(err, flag.ErrHelp) && !(errors.As(err, &ue) && ue.Printed) {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(ExitCode(err))
}

// ExitCode maps run's error to the process's exit status.
func ExitCode(err error) int {
	var ue UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		return 2
	}
	return 1
}

// Parse parses flags, turning a parse error (already printed by the flag
// package) into a UsageError.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return UsageError{Err: err, Printed: true}
	}
	return nil
}
