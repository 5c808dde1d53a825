// Package stack is ftplab's virtual network: every virtual host is its own
// gVisor TCP/IP stack (own TCP state, ARP/NDP cache, routes and port space)
// with one or more Ethernet NICs; hosts are joined by learning L2 switches
// and by links that can delay, jitter, lose, rate-limit and cut frames, all
// changeable while traffic flows. Every frame a host NIC transmits can be
// written to one pcapng capture (one interface per NIC, named "host:nic").
//
// Nothing in this package touches the host's network: addresses live only
// inside gVisor.
//
// Data path: a host's gVisor NIC writes a batch of Ethernet frames; each frame
// is copied once into a fresh buffer (which is also recorded by the capture,
// with checksums already computed because NICs advertise no checksum
// offload), then queued on the link direction it leaves by. One goroutine per
// link direction applies loss, rate and delay and hands the frame to the
// other end: a host NIC (injected into its stack) or a switch port, which
// forwards it at once to the port owning the destination MAC.
package stack
