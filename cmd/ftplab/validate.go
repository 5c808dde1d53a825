package main

import (
	"errors"
	"fmt"
	"log/slog"

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
An argument that is not a file is taken as the name of an embedded lab.`,
		Example: `  ftplab validate mylab.yaml
  ftplab validate rfc478`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := openLab(cmd, args, 1)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok: lab %q, %d hosts, %d switches, %d links, %d servers, %d steps\n",
				l.Source, l.Name, len(l.Hosts), len(l.Switches), len(l.Links), len(l.Servers), len(l.Steps))
			return nil
		},
	}
}

// openLab opens the lab named by the command's optional argument (the
// default lab without one), printing every problem of an invalid lab to
// stderr and returning an exitError with status code.
func openLab(cmd *cobra.Command, args []string, code int) (*labs.Lab, error) {
	name := labs.DefaultLab
	if len(args) == 1 {
		name = args[0]
	}
	lab, err := labs.Open(name)
	if err != nil {
		printLabErrors(cmd, err)
		return nil, &exitError{code: code, err: fmt.Errorf("%s: not a valid lab", name)}
	}
	return lab, nil
}

// debugLogger logs at debug level to the command's stderr.
func debugLogger(cmd *cobra.Command) *slog.Logger {
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// printLabErrors prints each lab error with its source snippet to stderr.
func printLabErrors(cmd *cobra.Command, err error) {
	w := cmd.ErrOrStderr()
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
