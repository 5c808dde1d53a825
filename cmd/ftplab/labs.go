package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/ftplab/ftplab/labs"
	"github.com/spf13/cobra"
)

func init() { root.AddCommand(newLabsCmd()) }

// newLabsCmd builds `ftplab labs`.
func newLabsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "labs",
		Short: "List the embedded teaching labs",
		Long: `List the labs built into ftplab, each with a one-line description.
Run one with "ftplab run NAME". Their YAML sources live in labs/library/
and the lab file format is documented in labs/README.md.`,
		Example: `  ftplab labs
  ftplab run port-steal`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := labs.List()
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, l := range list {
				def := ""
				if l.Name == labs.DefaultLab {
					def = " (default)"
				}
				fmt.Fprintf(w, "%s%s\t%s\n", l.Name, def, l.Description)
			}
			return w.Flush()
		},
	}
}
