package main

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/ftplab/ftplab/labs/ladder"
	"github.com/spf13/cobra"
)

func init() { root.AddCommand(newLadderCmd()) }

// newLadderCmd builds `ftplab ladder`.
func newLadderCmd() *cobra.Command {
	var names []string
	var brief bool
	cmd := &cobra.Command{
		Use:   "ladder FILE",
		Short: "Draw the FTP exchange in a pcap or pcapng file as a ladder diagram",
		Long: `Read a capture (pcap or pcapng; Ethernet, raw IP, Linux cooked SLL/SLL2 as
"tcpdump -i any" writes, or BSD loopback), reassemble its FTP control
connections (port 21, or any connection whose server greets with 220) and
print one column per host and one arrow per command, reply and data
connection, in time order. Hosts show as addresses unless the capture names
them (ftplab's pcapng does) or --name ADDR=NAME does. --brief leaves out
greetings, logins, TYPE and QUIT. On a terminal the ladder fits its width.
Notes at the end say what the capture could not tell: frames cut by a snap
length, a file that stops in the middle of a frame.

FTPS: with the TLS secrets a pcapng capture holds (Decryption Secrets
Blocks: ftplab's captures have them; editcap --inject-secrets
tls,KEYLOGFILE adds an SSLKEYLOGFILE's), the ladder decrypts TLS 1.2 and
1.3 (AES-GCM, ChaCha20-Poly1305) and draws the commands and replies inside
TLS, marked 🔒, and a protected data connection's plaintext bytes. Without
them it draws what an eavesdropper sees: the clear start and the TLS
handshakes.`,
		Example: `  ftplab ladder rfc478.pcapng --name 10.0.0.1=A --name 10.0.0.2=B --name 10.0.0.3=C
  unshare -n sh -c 'ip link set lo up; tcpdump -i lo -w ftp.pcap & ...'; ftplab ladder ftp.pcap`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := ladder.Options{Names: map[netip.Addr]string{}, Brief: brief, Width: termWidth(cmd.OutOrStdout())}
			for _, n := range names {
				addr, name, ok := strings.Cut(n, "=")
				a, err := netip.ParseAddr(addr)
				if !ok || err != nil || name == "" {
					return &exitError{code: 2, err: fmt.Errorf("--name %q: want ADDR=NAME, like 10.0.0.1=A", n)}
				}
				opts.Names[a] = name
				opts.Order = append(opts.Order, name)
			}
			l, err := ladder.ReadFile(args[0])
			if err != nil {
				return err
			}
			return l.Render(cmd.OutOrStdout(), opts)
		},
	}
	cmd.Flags().StringArrayVar(&names, "name", nil, "name a host: ADDR=NAME (repeatable; also sets column order)")
	cmd.Flags().BoolVar(&brief, "brief", false, "leave out greetings, logins, TYPE and QUIT")
	return cmd
}
