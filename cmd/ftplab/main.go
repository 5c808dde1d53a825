// Command ftplab runs, captures and teaches FTP's third-party transfer:
// virtual networks of gVisor hosts, real FTP servers and clients, one pcapng
// capture and a ladder diagram of the exchange.
//
// Each sub-command lives in its own file and registers itself on the root
// command from an init function.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// root is the ftplab command; sub-commands add themselves in init.
var root = &cobra.Command{
	Use:           "ftplab",
	Short:         "Run, capture and teach FTP third-party (server-to-server) transfers",
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	// A closed stdout (`ftplab run --live | head`) must not kill the
	// process with SIGPIPE: asking for the signal makes writes to it fail
	// with EPIPE instead, which the live stream handles. (Not
	// signal.Ignore: an ignored signal stays ignored in child processes.)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ftplab:", err)
		os.Exit(exitCode(err))
	}
}

// exitError carries a specific exit status (for example 1 for a failed lab
// expectation) out of a sub-command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	return 1
}
