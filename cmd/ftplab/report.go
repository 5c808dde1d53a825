package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/ftplab/ftplab/labs"
	"github.com/ftplab/ftplab/labs/ladder"
	"github.com/ftplab/ftplab/labs/report"
	"github.com/spf13/cobra"
)

func init() {
	root.AddCommand(newReportCmd())
	root.AddCommand(newGraphCmd())
}

// writeReport writes the HTML report of in to path.
func writeReport(path string, in report.Input) error {
	var b bytes.Buffer
	if err := report.Write(&b, in); err != nil {
		return err
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// newReportCmd builds `ftplab report`.
func newReportCmd() *cobra.Command {
	var out, lab string
	cmd := &cobra.Command{
		Use:   "report CAPTURE -o FILE.html",
		Short: "Draw a capture as one self-contained HTML report (topology, ladder, transfers)",
		Long: `Read a capture (pcap or pcapng, a lab's or a real network's) and write one
self-contained HTML file: the topology, the FTP exchange as a ladder diagram
(the same lines as "ftplab ladder"; click an arrow for its time, frame
numbers, bytes, TCP flags and RFC), each data connection's bytes over time,
and, with --lab, the lab's description, steps and YAML source. The page
fetches nothing: open it from disk, print it, project it.

"ftplab run LAB --report FILE.html" writes the same report of a run, with
every step's outcome and SHA-256 verdict.`,
		Example: `  ftplab report rfc478.pcapng --lab rfc478 -o rfc478.html
  ftplab report ftp.pcap -o ftp.html`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return &exitError{code: 2, err: fmt.Errorf("report: -o FILE.html is required")}
			}
			in := report.Input{Capture: args[0]}
			if lab != "" {
				l, err := openLab(cmd, []string{lab}, 2)
				if err != nil {
					return err
				}
				in.Lab = l
			}
			l, err := ladder.ReadFile(args[0])
			if err != nil {
				return err
			}
			in.Ladder = l
			if err := writeReport(out, in); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Report: %s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "the HTML file to write")
	cmd.Flags().StringVar(&lab, "lab", "", "the lab (file or embedded name) the capture comes from")
	return cmd
}

// newGraphCmd builds `ftplab graph`.
func newGraphCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "graph [LAB|FILE]",
		Short: "Print a lab's topology as SVG, Graphviz DOT or a Mermaid flowchart",
		Long: `Print the network of a lab: hosts with their addresses and roles (client,
FTP server, router, TUN gateway), switches, and links labelled with their
MTU, delay, jitter, loss and rate. --format svg (default) is a picture,
dot is for Graphviz ("| dot -Tpng > lab.png"), mermaid a flowchart for
Markdown. Clients are the hosts the lab's steps drive: without a run they
are not marked.`,
		Example: `  ftplab graph routed
  ftplab graph mylab.yaml --format dot | dot -Tsvg > mylab.svg
  ftplab graph rfc478 --format mermaid`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lab, err := openLab(cmd, args, 2)
			if err != nil {
				return err
			}
			t := report.FromLab(lab, nil)
			w := cmd.OutOrStdout()
			switch format {
			case "svg":
				return t.WriteSVG(w)
			case "dot":
				return t.WriteDOT(w)
			case "mermaid":
				return t.WriteMermaid(w)
			}
			return &exitError{code: 2, err: fmt.Errorf("--format %q: want svg, dot or mermaid", format)}
		},
	}
	cmd.Flags().StringVar(&format, "format", "svg", "svg, dot or mermaid")
	return cmd
}

// reportInput is the report input of a finished run.
func reportInput(lab *labs.Lab, rep *labs.Report) report.Input {
	return report.Input{Ladder: rep.Ladder, Lab: lab, Run: rep, Capture: rep.CaptureFile}
}
