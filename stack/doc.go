// Package stack is ftplab's virtual network: every virtual host is its own
// gVisor TCP/IP stack (own TCP state, ARP/NDP cache, routes and port space)
// with one or more Ethernet NICs; hosts are joined by learning L2 switches
// and by links that can delay, jitter, lose, rate-limit and cut frames, all
// changeable while traffic flows. Nothing here touches the host's network:
// addresses live only inside gVisor.
//
// # Data path
//
// A host's gVisor NIC writes Ethernet frames; each frame is copied once into
// a fresh buffer (which the capture also records), then queued on the link
// direction it leaves by. One goroutine per link direction applies the
// schedule (rate, delay, jitter) and hands the frame to the other end: a host
// NIC (injected into its stack) or a switch port, which forwards it at once to
// the port owning the destination MAC (inline when that link is transparent).
// Down, MTU and loss are applied when a frame enters a link direction.
//
// # Segmentation offload
//
// NICs advertise host GSO, so TCP hands a NIC one segment of up to 64 KiB
// where a real NIC would send many of at most the MSS. Such a super-segment
// crosses links without impairments and switches whole, and a host that
// receives one takes it as a NIC with GRO would deliver it. It is cut into
// the segments a NIC doing TSO would send (each within the link MTU, with
// valid lengths, IPv4 IDs and checksums) wherever frames count one by one:
// before a link with any impairment (delay, jitter, loss, rate, down:
// each applies per frame), before a host that forwards (routers see
// MTU-sized frames), and in the capture, which records the segments, never
// a super-segment. Frame counters count segments. This is what makes a
// copy between virtual hosts faster than the kernel's across veth (see
// README's performance section).
//
// # Capture
//
// With Options.Capture set, the network writes one pcapng stream: one
// interface (IDB) per host NIC, named "host:nic", Ethernet link type,
// nanosecond timestamps. Each frame is recorded once, on the interface of the
// NIC that transmitted it, at the moment it was sent (a frame lost on the
// link is therefore still in the capture, as tcpdump on the sender would show
// it). NICs advertise no checksum offload (TCP's is completed by the NIC
// or, for a super-segment, by its cutting), so every IPv4, TCP, UDP and
// ICMP checksum in the capture is valid. Options.CaptureData keeps frames
// whole, or cuts the frames of data connections (TCP ports other than
// Options.ControlPorts) after their TCP header, recording their original
// length, or keeps of those only SYN, FIN and RST frames (and one per 256
// MiB of sequence space), enough for a ladder. Readers using pcapgo need
// NgReaderOptions.WantMixedLinkType when CaptureInterface added an interface
// of another link type (e.g. a raw-IP TUN), or pcapgo skips its frames.
//
// # gVisor choices
//
//   - TCP uses SACK with classic loss recovery: gVisor's RACK needs tens of
//     seconds to recover after a link outage of one second.
//   - A host has IPv6 only if one of its NICs has an IPv6 address (or
//     HostConfig.IPv6 is set); no DAD, router solicitation or MLD, so idle
//     hosts are silent.
//   - DialFrom with a fixed local port recycles this host's own TIME-WAIT
//     endpoint on the same four-tuple (FTP's default data connection).
package stack
