package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/ftplab/ftplab/labs"
	"github.com/ftplab/ftplab/tun"
	"github.com/spf13/cobra"
)

func init() { root.AddCommand(newUpCmd()) }

// upReady is printed once the lab is up (scripts and tests wait for it).
const upReady = "lab is up; Ctrl-C (SIGINT) or SIGTERM stops it"

// newUpCmd builds `ftplab up`.
func newUpCmd() *cobra.Command {
	var tunName string
	var capture captureFlags
	var verbose bool
	cmd := &cobra.Command{
		Use:   "up [LAB|FILE]",
		Short: "Start a lab (network and servers, no steps) and keep it up, optionally on a TUN device",
		Long: `Start a lab's virtual network and FTP servers (its steps do not run) and keep
them up until interrupted. With --tun NAME (or a tun: section in the lab) a
TUN device attaches the lab to the kernel: the kernel gets the device's
addresses and a route to every lab subnet via the gateway host, so ping,
curl, lftp and Wireshark on this machine reach the virtual hosts. Everything
it adds is removed when it stops.

A TUN device needs CAP_NET_ADMIN: run it inside a network namespace made for
it, without root:

  unshare -rn sh -c 'ftplab up rfc478 --tun ftplab0 & sleep 2; curl -u user:user ftp://10.0.0.3/rfc478.txt -o x; kill %1'

Packets crossing the device are captured as interface tun:NAME. The capture
file (see "ftplab run --help" for where it goes and --force, --every-hop)
appears when the lab stops.`,
		Example: `  ftplab up                                  # rfc478, no TUN
  unshare -rn ftplab up rfc478 --tun ftplab0
  ftplab up mylab.yaml --capture /tmp/up.pcapng`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			lab, err := openLab(cmd, args, 2)
			if err != nil {
				return err
			}
			run, err := capture.options()
			if err != nil {
				return err
			}
			opts := labs.UpOptions{TUN: tunName, CaptureFile: run.CaptureFile, CaptureData: run.CaptureData, Force: run.Force, EveryHop: run.EveryHop}
			if verbose {
				opts.Logger = debugLogger(cmd)
			}
			ctx := cmd.Context()
			r, err := labs.Up(ctx, lab, opts)
			if err != nil {
				return err
			}
			if r.Device != nil {
				tun.RaiseProcs()
			}
			printUp(cmd.OutOrStdout(), r)
			<-ctx.Done()
			if err := r.Close(); err != nil {
				return fmt.Errorf("lab %s: stopping: %w", lab.Name, err)
			}
			if r.CaptureFile == "" {
				fmt.Fprintf(cmd.OutOrStdout(), "lab %s stopped\n", lab.Name)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "lab %s stopped; capture in %s\n", lab.Name, r.CaptureFile)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tunName, "tun", "", "attach the lab to the kernel through a TUN device of this name")
	capture.add(cmd)
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log network, server and device diagnostics to stderr")
	return cmd
}

// printUp prints every host's addresses and ftp:// URLs, the TUN device,
// the capture and the Wireshark hints.
func printUp(w io.Writer, r *labs.Running) {
	fmt.Fprintf(w, "lab %s\n", r.Lab.Name)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, h := range r.Net.Hosts() {
		var addrs []string
		for _, a := range h.Addrs() {
			addrs = append(addrs, a.String())
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", h.Name(), strings.Join(addrs, " "), strings.Join(r.URLs(h.Name()), " "))
	}
	tw.Flush()
	if d := r.Device; d != nil {
		fmt.Fprintf(w, "tun %s: kernel %s, gateway %s\n", d.Name(), joinPrefixes(d.Kernel()), joinPrefixes(d.Gateway()))
		fmt.Fprintf(w, "  routes via the gateway: %s\n", joinPrefixes(d.Routes()))
		fmt.Fprintf(w, "  watch it live: wireshark -k -i %s\n", d.Name())
	}
	if r.CaptureFile == "" {
		fmt.Fprintln(w, "capture: none (--no-capture)")
	} else {
		fmt.Fprintf(w, "capture: %s (complete when the lab stops; open with wireshark %s)\n", r.CaptureFile, r.CaptureFile)
	}
	fmt.Fprintln(w, upReady)
}

func joinPrefixes[T fmt.Stringer](ps []T) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}
