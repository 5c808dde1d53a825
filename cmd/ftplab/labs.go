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
		Use:   "labs [NAME]",
		Short: "List the embedded teaching labs, or print one's source",
		Long: `List the labs built into ftplab, each with a one-line description.
Run one with "ftplab run NAME". With a NAME, print that lab's YAML source:
its comments explain what to look for and cite the RFCs; save it to a file
to make a lab of your own. The lab file format is documented in
labs/README.md.`,
		Example: `  ftplab labs
  ftplab labs port-steal
  ftplab labs rfc478 > mylab.yaml
  ftplab run port-steal`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				src, err := labs.EmbeddedSource(args[0])
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				_, err = cmd.OutOrStdout().Write(src)
				return err
			}
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
