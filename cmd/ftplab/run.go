package main

import (
	"fmt"
	"io"
	"os"

	"github.com/ftplab/ftplab/labs"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func init() { root.AddCommand(newRunCmd()) }

// newRunCmd builds `ftplab run`.
func newRunCmd() *cobra.Command {
	var capture captureFlags
	var live, verbose, full bool
	var reportFile, keylog string
	cmd := &cobra.Command{
		Use:   "run [LAB|FILE]",
		Short: "Run a lab: build its network, run its steps, print the ladder and summary",
		Long: `Run a lab in this process: build its virtual network (every host its own
gVisor TCP/IP stack; nothing touches the host's network), start its FTP
servers, run its steps, then print a ladder diagram of the exchange read back
from the capture (greetings, logins, TYPE and QUIT left out unless --full)
and a summary of every transfer (bytes, time, throughput, SHA-256 match).
--report FILE.html also writes all of it as one self-contained HTML page
(see "ftplab report"). Without an argument the default lab, rfc478, runs. An
argument that is not a file is an embedded lab's name (see "ftplab labs").

The exit status is 0 when every step and expectation held, 1 when one did
not (or the run could not complete, or was interrupted), 2 when the lab file
is invalid or an argument is wrong.

The capture goes to --capture, else to the lab's capture.file (relative to
the lab file), else to LAB.pcapng here. It is written beside its path and
renamed into place when complete; a file there that is not a pcap or pcapng
capture is not replaced unless --force is given. A frame a router forwards
is recorded once, where it was first sent (so Wireshark's TCP analysis sees
each segment once); --every-hop records it on every NIC that sends it.

FTPS labs need no key file: the capture holds every TLS secret of the run
(pcapng Decryption Secrets Blocks), so Wireshark and tshark decrypt it as
it is. --keylog FILE also appends them to FILE (NSS key log format, as
SSLKEYLOGFILE) for other tools.

--live streams the pcapng to stdout while the lab runs (for
"| wireshark -k -i -"); everything else then goes to stderr. If the reader
goes away, streaming stops and the run and the capture file go on.`,
		Example: `  ftplab run
  ftplab run port-steal --capture /tmp/steal.pcapng
  ftplab run rfc478 --report rfc478.html          # a page to open, print, project
  ftplab run mylab.yaml --capture-data headers    # big transfers: small capture
  ftplab run mylab.yaml --no-capture              # no file; the ladder still drawn
  ftplab run mylab.yaml
  ftplab run slow-client --live | wireshark -k -i -
  ftplab run ftps --keylog keys.txt               # TLS secrets for other tools too`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lab, err := openLab(cmd, args, 2)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			opts, err := capture.options()
			if err != nil {
				return err
			}
			if live && isTerminal(out) {
				return &exitError{code: 2, err: fmt.Errorf("--live writes a binary pcapng to stdout, which is a terminal: pipe it, e.g. | wireshark -k -i -")}
			}
			if live {
				opts.Live, out = out, cmd.ErrOrStderr()
			}
			opts.Out = out
			opts.Progress = isTerminal(out)
			if verbose {
				opts.Logger = debugLogger(cmd)
			}
			if keylog != "" {
				kl, err := os.OpenFile(keylog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
				if err != nil {
					return usageError("run: --keylog: %w", err)
				}
				defer kl.Close()
				opts.KeyLog = kl
			}
			fmt.Fprintf(out, "Lab %s: %s\n\n", lab.Name, lab.Description)
			rep, err := labs.Run(cmd.Context(), lab, opts)
			if rep != nil {
				if perr := rep.Print(out, labs.PrintOptions{Full: full, Width: termWidth(out)}); perr != nil && err == nil {
					err = perr
				}
			}
			if rep != nil && rep.Ladder != nil && reportFile != "" {
				if rerr := writeReport(reportFile, reportInput(lab, rep)); rerr != nil && err == nil {
					err = rerr
				} else if rerr == nil {
					fmt.Fprintf(out, "Report: %s\n", reportFile)
				}
			}
			if err != nil {
				return err
			}
			if !rep.OK() {
				return &exitError{code: 1, err: fmt.Errorf("lab %s: %d step(s) failed", lab.Name, len(rep.Failures()))}
			}
			return nil
		},
	}
	capture.add(cmd)
	cmd.Flags().BoolVar(&live, "live", false, "also stream the pcapng to stdout (text output goes to stderr)")
	cmd.Flags().StringVar(&reportFile, "report", "", "also write an HTML report of the run to this file")
	cmd.Flags().BoolVar(&full, "full", false, "draw every line of the ladder (default: logins, TYPE and QUIT left out)")
	cmd.Flags().StringVar(&keylog, "keylog", "", "also append every TLS secret of the run to FILE (NSS key log format; the capture holds them anyway)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every FTP command and reply of the servers to stderr")
	return cmd
}

// termWidth is w's width in columns if it is a terminal, else 0 (no
// limit).
func termWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}

// isTerminal reports whether w is a terminal (for progress bars).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
