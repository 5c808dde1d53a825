package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/ftplab/ftplab/labs"
	"github.com/spf13/cobra"
)

func init() { root.AddCommand(newValidateCmd()) }

// newValidateCmd builds `ftplab validate`.
func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE|LAB",
		Short: "Check a lab file without running it",
		Long: `Decode a lab file strictly (unknown keys are errors) and check it: every
host, server, link and step it refers to must exist, addresses must not
repeat, durations, rates and percentages must parse. Every problem is
printed as FILE:LINE:COLUMN: message, with the offending source line.
An argument that is not a file is taken as the name of an embedded lab.

The exit status is 0 for a valid lab, 1 for an invalid one (or when
interrupted).`,
		Example: `  ftplab validate mylab.yaml
  ftplab validate rfc478`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := openLab(cmd, args, 1)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok: lab %q, %s, %s, %s, %s, %s\n", l.Source, l.Name,
				count(len(l.Hosts), "host"), count(len(l.Switches), "switch"), count(len(l.Links), "link"),
				count(len(l.Servers), "server"), count(len(l.Steps), "step"))
			return nil
		},
	}
}

// count renders "1 host", "2 hosts", "1 switch", "2 switches".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "ch") || strings.HasSuffix(noun, "s") {
		return fmt.Sprintf("%d %ses", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// openLab opens the lab named by the command's optional argument (the
// default lab without one), printing every problem of an invalid lab to
// stderr and returning an exitError with status code. Loading is bounded
// (labs.MaxSourceSize and the other limits), and the command's context
// (Ctrl-C, SIGTERM) interrupts it.
func openLab(cmd *cobra.Command, args []string, code int) (*labs.Lab, error) {
	name := labs.DefaultLab
	if len(args) == 1 {
		name = args[0]
	}
	type result struct {
		lab *labs.Lab
		err error
	}
	done := make(chan result, 1)
	go func() {
		lab, err := labs.Open(name)
		done <- result{lab, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-cmd.Context().Done():
		// The loader cannot be stopped half-way; the process is about
		// to exit, which stops it.
		return nil, &exitError{code: 1, err: fmt.Errorf("%s: interrupted while loading: %w", name, context.Cause(cmd.Context()))}
	}
	if r.err != nil {
		printLabErrors(cmd, r.err)
		return nil, &exitError{code: code, err: fmt.Errorf("%s: not a valid lab", name)}
	}
	return r.lab, nil
}

// debugLogger logs at debug level to the command's stderr.
func debugLogger(cmd *cobra.Command) *slog.Logger {
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// printLabErrors prints each lab error with its source snippet to stderr
// (buffered: a lab can have a hundred thousand of them).
func printLabErrors(cmd *cobra.Command, err error) {
	w := bufio.NewWriter(cmd.ErrOrStderr())
	defer w.Flush()
	var list labs.Errors
	var one *labs.Error
	switch {
	case errors.As(err, &list):
	case errors.As(err, &one):
		list = labs.Errors{one}
	default:
		fmt.Fprintln(w, err)
		return
	}
	for _, e := range list {
		fmt.Fprintln(w, e.Error())
		if e.Snippet != "" {
			fmt.Fprintln(w, e.Snippet)
		}
	}
}
