package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/ftplab/ftplab/ftp/proto"
)

type dataMode int

const (
	noData dataMode = iota
	activeData
	passiveData
)

// dataSetup is how the next transfer's data connection is made.
type dataSetup struct {
	mode   dataMode
	target netip.AddrPort // active: where to connect
	// hint is what a preceding PORT/EPRT/SOCK named; a later PASV/EPSV accepts
	// only that host (and, after SOCK, that port): RFC 478 note 3.
	hint     netip.AddrPort
	hintPort bool
	ln       net.Listener // passive
	// tlsClient: CPSV made this passive socket; we are the TLS client.
	tlsClient bool
}

// reset forgets the setup and closes its listener.
func (d *dataSetup) reset() {
	if d.ln != nil {
		d.ln.Close()
	}
	*d = dataSetup{}
}

// take hands the setup (and its listener) to a transfer.
func (d *dataSetup) take() dataSetup {
	t := *d
	*d = dataSetup{}
	return t
}

func (s *session) cmdPORT(c command) {
	ap, err := proto.ParsePORT(c.arg)
	if err != nil {
		s.reply(501, fmt.Sprintf("%s: %v", c.verb, err))
		return
	}
	s.setActive(c.verb, ap)
}

func (s *session) cmdEPRT(c command) {
	ap, err := proto.ParseEPRT(c.arg)
	if errors.Is(err, proto.ErrNetworkProtocol) {
		s.reply(522, "Network protocol not supported, use (1,2)")
		return
	}
	if err != nil {
		s.reply(501, fmt.Sprintf("EPRT: %v", err))
		return
	}
	s.setActive("EPRT", ap)
}

// setActive takes PORT, EPRT or SOCK's address, if third-party safety
// allows it; nothing is dialled until a transfer command.
func (s *session) setActive(verb string, ap netip.AddrPort) {
	if s.epsvAll {
		s.reply(501, verb+" not allowed after EPSV ALL.")
		return
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if err := s.checkTarget(ap); err != nil {
		s.log.Warn("ftp data address refused", "verb", verb, "target", ap.String(), "reason", err.Error())
		s.reply(504, fmt.Sprintf("%s refused: %v.", verb, err))
		return
	}
	s.data.reset()
	s.data = dataSetup{mode: activeData, target: ap, hint: ap, hintPort: verb == "SOCK"}
	s.reply(200, fmt.Sprintf("%s command successful: data connection with %s.", verb, ap))
}

// checkTarget applies RFC 2577 to an active-mode address: it must be the
// control connection's peer or a trusted peer, at a port of 1024 or more;
// a trusted peer may also be named at its default data port (20, or port
// L-1 of our own control port L, for peers that serve on the same port as
// we do: RFC 478's default data sockets). AllowPrivilegedPorts lifts the
// port rule, AllowForeign every rule.
func (s *session) checkTarget(ap netip.AddrPort) error {
	a, port, cfg := ap.Addr(), ap.Port(), s.srv.cfg
	client := a == s.peer.Addr()
	switch {
	case a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || port == 0:
		return fmt.Errorf("%s cannot be the other end of a data connection", ap)
	case cfg.AllowForeign:
		return nil
	case !client && !s.srv.trusted(a):
		return fmt.Errorf("address %s is not this client's address %s and not a trusted peer (third-party bounce protection, RFC 2577)", a, s.peer.Addr())
	case port >= 1024 || cfg.AllowPrivilegedPorts:
		return nil
	case client:
		return fmt.Errorf("port %d is below 1024 (RFC 2577)", port)
	case port == defaultDataPort || (s.local.Port() > 1 && port == s.local.Port()-1):
		return nil
	}
	return fmt.Errorf("port %d of trusted peer %s is below 1024 and not a default data port (20 or %d) (RFC 2577; AllowPrivilegedPorts permits it)", port, a, s.local.Port()-1)
}

// defaultDataPort is FTP's well-known data port, L-1 of port 21.
const defaultDataPort = 20

// allowPassive says whether a connection from "from" may be the data
// connection of passive setup d (the port-stealing defence).
func (s *session) allowPassive(d dataSetup, from netip.AddrPort) bool {
	if d.hint.IsValid() {
		return from.Addr() == d.hint.Addr() && (!d.hintPort || from.Port() == d.hint.Port())
	}
	return s.srv.cfg.AllowForeign || from.Addr() == s.peer.Addr() || s.srv.trusted(from.Addr())
}

// cmdPASV (and CPSV) opens a passive socket and reports whether it did.
func (s *session) cmdPASV(c command) bool {
	if s.epsvAll {
		s.reply(501, c.verb+" not allowed after EPSV ALL.")
		return false
	}
	adv := s.srv.cfg.PassiveAddress.Unmap()
	if !adv.IsValid() {
		adv = s.local.Addr()
	}
	if !adv.Is4() {
		s.reply(425, fmt.Sprintf("%s announces IPv4 only and this connection is on %s: use EPSV.", c.verb, adv))
		return false
	}
	port, err := s.listenPassive()
	if err != nil {
		s.reply(425, fmt.Sprintf("Can't open passive connection: %v.", err))
		return false
	}
	text, _ := proto.FormatPASVReply(netip.AddrPortFrom(adv, port))
	s.reply(227, text)
	return true
}

func (s *session) cmdEPSV(c command) {
	switch c.arg {
	case "":
	case "ALL", "all":
		s.epsvAll = true
		s.reply(200, "EPSV ALL ok: only EPSV from now on.")
		return
	case "1", "2":
		if want := map[bool]string{true: "1", false: "2"}[s.local.Addr().Is4()]; c.arg != want {
			s.reply(522, fmt.Sprintf("Network protocol not supported, use (%s)", want))
			return
		}
	default:
		s.reply(501, fmt.Sprintf("EPSV: argument %q is not 1, 2 or ALL.", clip(c.arg)))
		return
	}
	port, err := s.listenPassive()
	if err != nil {
		s.reply(425, fmt.Sprintf("Can't open passive connection: %v.", err))
		return
	}
	s.reply(229, proto.FormatEPSVReply(port))
}

// listenPassive opens the passive socket. After SOCK it is the default data
// port L-1 (RFC 478 note 2); when that is taken (another transfer uses it),
// it falls back to the passive range and says so in the log.
func (s *session) listenPassive() (uint16, error) {
	if s.data.ln != nil {
		s.data.ln.Close()
		s.data.ln = nil
	}
	var ln net.Listener
	if s.data.hintPort && s.local.Port() > 1 {
		at := netip.AddrPortFrom(s.local.Addr(), s.local.Port()-1)
		l, err := s.srv.cfg.Network.Listen(s.ctx, "tcp", at.String())
		if err != nil {
			s.log.Warn("ftp default data port busy: passive socket falls back to another port", "port", at.Port(), "err", err.Error())
		} else {
			ln = l
		}
	}
	if ln == nil {
		l, err := s.listenRange()
		if err != nil {
			return 0, err
		}
		ln = l
	}
	s.data.mode, s.data.ln, s.data.tlsClient = passiveData, ln, false
	return proto.AddrPortOf(ln.Addr()).Port(), nil
}

// listenRange listens on a free port of the passive range.
func (s *session) listenRange() (net.Listener, error) {
	r := s.srv.cfg.PassivePorts
	if r.Lo == 0 && r.Hi == 0 {
		return s.srv.cfg.Network.Listen(s.ctx, "tcp", netip.AddrPortFrom(s.local.Addr(), 0).String())
	}
	n := int(r.Hi) - int(r.Lo) + 1
	start := rand.IntN(n)
	var last error
	for i := range min(n, 64) {
		port := uint16(int(r.Lo) + (start+i)%n)
		ln, err := s.srv.cfg.Network.Listen(s.ctx, "tcp", netip.AddrPortFrom(s.local.Addr(), port).String())
		if err == nil {
			return ln, nil
		}
		last = err
	}
	return nil, fmt.Errorf("no free passive port in %d-%d: %w", r.Lo, r.Hi, last)
}

// openData makes the data connection of setup d: it accepts on the passive
// socket, or dials the active target, calls connected once the TCP
// connection is up (the 150 reply goes out then: TLS clients wait for it),
// then, with sec, runs the TLS handshake. It gives up after the data
// timeout.
func (s *session) openData(ctx context.Context, d dataSetup, sec *dataSecurity, connected func(net.Conn) bool) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.srv.cfg.DataTimeout)
	defer cancel()
	switch d.mode {
	case passiveData:
		return s.acceptData(ctx, d, sec, connected)
	case activeData:
		c, err := s.dialData(ctx, d.target)
		if err != nil {
			return nil, err
		}
		return s.startData(ctx, c, sec, connected)
	}
	return nil, errors.New("no PORT, PASV, EPRT, EPSV or SOCK")
}

// startData calls connected for the TCP connection c and, with sec, runs
// the TLS handshake on it; a connection whose handshake fails is reset.
func (s *session) startData(ctx context.Context, c net.Conn, sec *dataSecurity, connected func(net.Conn) bool) (net.Conn, error) {
	if !connected(c) {
		c.Close()
		return nil, errAborted
	}
	if sec == nil {
		return c, nil
	}
	tc, err := s.secureData(ctx, c, sec)
	if err != nil {
		resetConn(c)
		return nil, err
	}
	return tc, nil
}

// errAborted is openData's error when the transfer was aborted as the
// connection opened.
var errAborted = errors.New("transfer aborted")

// acceptData accepts the data connection, resetting (and logging) any from
// a peer d does not allow, or (with sec) one that fails the TLS handshake
// or session reuse, until the right one comes or ctx ends.
func (s *session) acceptData(ctx context.Context, d dataSetup, sec *dataSecurity, connected func(net.Conn) bool) (net.Conn, error) {
	defer d.ln.Close()
	stop := context.AfterFunc(ctx, func() { d.ln.Close() })
	defer stop()
	var refused []string
	for {
		c, err := d.ln.Accept()
		if err != nil {
			why := ""
			if len(refused) > 0 {
				why = fmt.Sprintf(" (refused %s)", strings.Join(refused, "; "))
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("no data connection to %s%s: %w", d.ln.Addr(), why, context.Cause(ctx))
			}
			return nil, fmt.Errorf("accept data connection on %s%s: %w", d.ln.Addr(), why, err)
		}
		from := proto.AddrPortOf(c.RemoteAddr())
		if !s.allowPassive(d, from) {
			s.log.Warn("ftp data connection from a foreign peer reset (port stealing defence)", "from", from.String(), "listener", d.ln.Addr().String())
			if len(refused) < 3 {
				refused = append(refused, from.String()+": not the peer of this session")
			}
			resetConn(c)
			continue
		}
		tc, err := s.startData(ctx, c, sec, connected)
		if err == nil || errors.Is(err, errAborted) {
			return tc, err
		}
		s.log.Warn("ftp protected data connection reset", "from", from.String(), "err", err.Error())
		if ctx.Err() != nil {
			return nil, err
		}
		if len(refused) < 3 {
			refused = append(refused, fmt.Sprintf("%s: %v", from, err))
		}
	}
}

// resetConn closes c (a TLS connection's TCP connection) with a TCP reset
// (SO_LINGER 0) where the connection supports it (kernel sockets and
// ftplab's virtual hosts do), so that the other end sees an error and not
// the end of an empty or partial file, which a server would store.
func resetConn(c net.Conn) {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn() // no close_notify: that would say the data is complete
	}
	if l, ok := c.(interface{ SetLinger(sec int) error }); ok {
		_ = l.SetLinger(0)
	}
	c.Close()
}

// dialData connects to target from the default data port L-1 (RFC 959
// §3.2, RFC 478), or, when that fails (port in use, no privilege), from
// any port of the same address, saying so in the log. The address stays
// the control connection's: the peer may accept only that one.
func (s *session) dialData(ctx context.Context, target netip.AddrPort) (net.Conn, error) {
	if l := s.local.Port(); l > 1 {
		from := netip.AddrPortFrom(s.local.Addr(), l-1)
		c, err := s.srv.cfg.Network.DialFrom(ctx, "tcp", from, target)
		if err == nil {
			return c, nil
		}
		// The dial may report its deadline (i/o timeout) just before ctx
		// says so: either way the time is up, so no second try.
		if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("connect to %s: %w", target, err)
		}
		s.log.Warn("ftp active data connection from the default data port failed: dialling from any port", "from", from.String(), "to", target.String(), "err", err.Error())
	}
	c, err := s.srv.cfg.Network.DialFrom(ctx, "tcp", netip.AddrPortFrom(s.local.Addr(), 0), target)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", target, err)
	}
	return c, nil
}
