package labs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/client"
	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/ftplab/ftplab/ftp/server"
	"github.com/ftplab/ftplab/ftp/store"
)

// The kernel as the oracle: the same network is built twice, once as a
// lab (gVisor hosts, ftplab's virtual router) and once of Linux network
// namespaces with an nftables router (ct helper "ftp", masquerade, a
// stateful forward chain), with the project's own FTP servers and client
// in both. Every case (downloads in each data mode, third-party copies
// in both passive orders) × FTP helper (off, on, loose) × NAT (off, on)
// must end the same way in both worlds, but for the differences listed in
// knownDifferences, each with its reason.
//
//	A 10.1.0.2 (client) ─┐
//	B 10.1.0.3 (server) ─┴─ inside ─ eth0 10.1.0.1 R eth1 192.0.2.1 ─ C 192.0.2.3 (server)
//
// R's forward policy is drop; packets of connections it let through pass
// (established, and related: the data connections its helper expects),
// and so does anything new from the inside. With NAT, R masquerades on
// eth1 and C has no route to the inside; without, C routes 10.1.0.0/24
// via R. B and C trust each other (and C trusts R's outside address under
// NAT) for third-party transfers.
//
// What both worlds show (Linux 6.18): passive downloads always work (A
// connects out). Active ones need the helper: without it C's connection
// to A is new from the outside (dropped: 425), or, under NAT, C refuses
// PORT/EPRT naming 10.1.0.2 from a client at 192.0.2.1 (504). A copy with
// C passive works everywhere (B connects out). With B passive, C must
// connect in to B: that needs loose, as A's PORT names B, not A; and
// under NAT it fails even so (425, refused by R): the helper rewrites the
// PORT to R's address but expects the connection at B's, as
// nf_conntrack_ftp records the announced address and nf_nat_ftp changes
// only the port of the expectation.

var (
	oracleA   = netip.MustParsePrefix("10.1.0.2/24")
	oracleB   = netip.MustParsePrefix("10.1.0.3/24")
	oracleRin = netip.MustParsePrefix("10.1.0.1/24")
	oracleRex = netip.MustParsePrefix("192.0.2.1/24")
	oracleC   = netip.MustParsePrefix("192.0.2.3/24")
)

const (
	oracleUser, oraclePass = "u", "p"
	// oracleDataTimeout ends the failing cases quickly: a server gives up
	// on a data connection that does not come (or cannot be made) after it.
	oracleDataTimeout = 2 * time.Second
	oracleGet         = "/get.bin" // on C, for downloads
	oracleFXP         = "/fxp.bin" // on B, copied to C
	oracleSize        = 64 << 10
	oracleSeed        = 7
)

// oracleHelper is the router's FTP helper: off, on, or on with loose.
type oracleHelper string

const (
	helperOff   oracleHelper = "off"
	helperOn    oracleHelper = "on"
	helperLoose oracleHelper = "loose"
)

// oracleWorld is one router setup: helper × NAT.
type oracleWorld struct {
	helper oracleHelper
	nat    bool
}

func (w oracleWorld) String() string {
	return fmt.Sprintf("helper=%s,nat=%s", w.helper, map[bool]string{true: "on", false: "off"}[w.nat])
}

// id is short for names of namespaces and labs.
func (w oracleWorld) id() string {
	return fmt.Sprintf("%s%d", w.helper, map[bool]int{true: 1, false: 0}[w.nat])
}

// trustedByC are the peers C lets take part in third-party transfers.
func (w oracleWorld) trustedByC() []netip.Prefix {
	t := []netip.Prefix{netip.PrefixFrom(oracleB.Addr(), 32)}
	if w.nat {
		t = append(t, netip.PrefixFrom(oracleRex.Addr(), 32))
	}
	return t
}

func oracleWorlds() []oracleWorld {
	var out []oracleWorld
	for _, h := range []oracleHelper{helperOff, helperOn, helperLoose} {
		for _, nat := range []bool{false, true} {
			out = append(out, oracleWorld{helper: h, nat: nat})
		}
	}
	return out
}

// oracleCase is one thing A does: download C's file in a data mode, or
// copy B's file to C with one of them passive.
type oracleCase struct {
	name    string
	mode    client.Mode // a download's
	fxp     bool
	passive client.Side // a copy's passive server
}

var oracleCases = []oracleCase{
	{name: "get-port", mode: client.ModePORT},
	{name: "get-pasv", mode: client.ModePASV},
	{name: "get-epsv", mode: client.ModeEPSV},
	{name: "get-eprt", mode: client.ModeEPRT},
	{name: "fxp-B-passive", fxp: true, passive: client.Source},
	{name: "fxp-C-passive", fxp: true, passive: client.Destination},
}

// dest is where a copy goes on C.
func (c oracleCase) dest() string { return "/" + c.name + ".bin" }

// outcome is how a case ended: ok, or failed with the reply code that
// failed it (0: no reply did).
type outcome struct {
	ok   bool
	code int
}

func (o outcome) String() string {
	switch {
	case o.ok:
		return "ok"
	case o.code != 0:
		return fmt.Sprintf("fail %d", o.code)
	}
	return "fail"
}

// outcomeOf is the outcome of a case that returned err.
func outcomeOf(err error) outcome {
	if err == nil {
		return outcome{ok: true}
	}
	var re *client.ReplyError
	if errors.As(err, &re) {
		return outcome{code: re.Code}
	}
	return outcome{}
}

// knownDifference is an investigated difference between the worlds.
type knownDifference struct {
	kernel, ftplab outcome
	why            string
}

// knownDifferences are the differences between the worlds that were
// investigated and are not bugs of ftplab's router, each with both
// outcomes and the reason, keyed like the table
// ("helper=loose,nat=on/fxp-B-passive"). There are none: all 36 outcomes
// agree. A listed difference that stops occurring fails the test, so the
// list cannot go stale.
var knownDifferences = map[string]knownDifference{}

// oracleResults collects both worlds' outcomes, keyed "world/case".
type oracleResults struct {
	mu             sync.Mutex
	kernel, ftplab map[string]outcome
	errs           map[string]string // why a case failed, for the log
}

func (r *oracleResults) put(kernel bool, w oracleWorld, c oracleCase, o outcome, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := w.String() + "/" + c.name
	if kernel {
		r.kernel[key] = o
		key += " kernel"
	} else {
		r.ftplab[key] = o
		key += " ftplab"
	}
	if err != nil {
		r.errs[key] = err.Error()
	}
}

// TestNATOracle runs every case in both worlds and compares the outcomes.
func TestNATOracle(t *testing.T) {
	if !ftptest.Run(t, ftptest.Need("ip", "nft")) {
		return
	}
	res := &oracleResults{kernel: map[string]outcome{}, ftplab: map[string]outcome{}, errs: map[string]string{}}
	t.Run("worlds", func(t *testing.T) {
		for _, w := range oracleWorlds() {
			t.Run("ftplab/"+w.String(), func(t *testing.T) {
				t.Parallel()
				runOracleLab(t, w, res)
			})
		}
		t.Run("kernel", func(t *testing.T) {
			t.Parallel()
			// The helper's loose flag is one for the whole kernel: the
			// worlds without it run first, those with it after.
			for _, loose := range []bool{false, true} {
				t.Run(fmt.Sprintf("loose=%v", loose), func(t *testing.T) {
					setLoose(t, loose)
					for _, w := range oracleWorlds() {
						if (w.helper == helperLoose) != loose {
							continue
						}
						t.Run(w.String(), func(t *testing.T) {
							t.Parallel()
							runOracleKernel(t, w, res)
						})
					}
				})
			}
		})
	})
	compareOracle(t, res)
}

// compareOracle prints the table and fails on any difference not known.
func compareOracle(t *testing.T, res *oracleResults) {
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "helper\tnat\tcase\tkernel\tftplab\t")
	seen := map[string]bool{}
	for _, w := range oracleWorlds() {
		for _, c := range oracleCases {
			key := w.String() + "/" + c.name
			seen[key] = true
			k, kok := res.kernel[key]
			f, fok := res.ftplab[key]
			mark := ""
			if !kok || !fok {
				t.Errorf("%s: no outcome (kernel %v, ftplab %v)", key, kok, fok)
				mark = "MISSING"
			} else if k != f {
				known, isKnown := knownDifferences[key]
				switch {
				case !isKnown:
					t.Errorf("%s: kernel %s, ftplab %s\n  kernel: %s\n  ftplab: %s", key, k, f, res.errs[key+" kernel"], res.errs[key+" ftplab"])
					mark = "DIFFERS"
				case known.kernel != k || known.ftplab != f:
					t.Errorf("%s: kernel %s, ftplab %s, but the known difference is kernel %s, ftplab %s", key, k, f, known.kernel, known.ftplab)
					mark = "DIFFERS"
				default:
					mark = "known: " + known.why
				}
			} else if _, isKnown := knownDifferences[key]; isKnown {
				t.Errorf("%s: listed as a known difference, but both worlds say %s now", key, k)
			}
			fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\t%s\n", w.helper, w.nat, c.name, k, f, mark)
		}
	}
	require.NoError(t, tw.Flush())
	t.Log("outcomes:\n" + table.String())
	var why []string
	for key, e := range res.errs {
		why = append(why, key+": "+e)
	}
	slices.Sort(why)
	t.Log("why cases failed:\n" + strings.Join(why, "\n"))
	for key := range knownDifferences {
		assert.True(t, seen[key], "known difference %q names no case", key)
	}
}

// setLoose sets nf_conntrack_ftp's loose parameter as the worlds of this
// test need it and puts the original value back at cleanup. The parameter
// is kernel state shared by every network namespace on the machine, not
// network configuration of this test's namespaces: it is written only when
// it differs from what is wanted, and always restored.
func setLoose(t *testing.T, loose bool) {
	const path = "/sys/module/nf_conntrack_ftp/parameters/loose"
	orig, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		// A helper that is a module not loaded yet: a ruleset naming it
		// loads it (in a namespace made for that).
		ns := ftptest.AddNetns(t, "load-ftp-helper")
		rules := filepath.Join(t.TempDir(), "helper.nft")
		require.NoError(t, os.WriteFile(rules, []byte("table inet load { ct helper ftp { type \"ftp\" protocol tcp; }; }\n"), 0o600))
		ns.Exec(t, "nft", "-f", rules)
		orig, err = os.ReadFile(path)
	}
	if errors.Is(err, os.ErrNotExist) {
		ftptest.Skip(t, "the kernel has no FTP connection-tracking helper (nf_conntrack_ftp): "+err.Error())
	}
	require.NoError(t, err)
	cur := strings.TrimSpace(string(orig)) == "Y" || strings.TrimSpace(string(orig)) == "1"
	if cur == loose {
		return
	}
	want := map[bool]string{true: "1", false: "0"}[loose]
	if err := os.WriteFile(path, []byte(want), 0); err != nil {
		ftptest.Skip(t, "cannot set the FTP helper's loose flag (needs root outside a user namespace): "+err.Error())
	}
	t.Cleanup(func() {
		assert.NoError(t, os.WriteFile(path, bytes.TrimSpace(orig), 0), "restoring %s", path)
	})
}

// oracleLab is the lab of world w: the topology, both servers, and one
// step per case.
func oracleLab(w oracleWorld) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: oracle-%s\nhosts:\n", w.id())
	fmt.Fprintf(&b, "  - {name: A, addresses: [%s], gateway: %s}\n", oracleA, oracleRin.Addr())
	fmt.Fprintf(&b, "  - {name: B, addresses: [%s], gateway: %s}\n", oracleB, oracleRin.Addr())
	fmt.Fprintf(&b, "  - name: R\n    router: true\n    nics:\n      - {name: eth0, addresses: [%s]}\n      - {name: eth1, addresses: [%s]}\n", oracleRin, oracleRex)
	b.WriteString("    firewall: {allow: [{in: eth0}]}\n")
	if w.nat {
		b.WriteString("    nat: {outside: eth1}\n")
	}
	switch w.helper {
	case helperOn:
		b.WriteString("    ftp-helper: {}\n")
	case helperLoose:
		b.WriteString("    ftp-helper: {loose: true}\n")
	}
	fmt.Fprintf(&b, "  - name: C\n    addresses: [%s]\n", oracleC)
	if !w.nat {
		fmt.Fprintf(&b, "    routes: [{to: %s, via: %s}]\n", oracleA.Masked(), oracleRex.Addr())
	}
	b.WriteString("switches: [{name: inside}]\nlinks:\n  - {ends: [A, inside]}\n  - {ends: [B, inside]}\n  - {ends: [\"R:eth0\", inside]}\n  - {ends: [\"R:eth1\", C]}\n")
	b.WriteString("servers:\n")
	server := func(host, file string, trust []netip.Prefix) {
		fmt.Fprintf(&b, "  - host: %s\n    users: [{name: %s, password: %s}]\n    data-timeout: %s\n    trust: [", host, oracleUser, oraclePass, oracleDataTimeout)
		for i, p := range trust {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(p.String())
		}
		fmt.Fprintf(&b, "]\n    files: [{path: %s, size: %d, seed: %d}]\n", file, oracleSize, oracleSeed)
	}
	server("B", oracleFXP, []netip.Prefix{netip.PrefixFrom(oracleC.Addr(), 32)})
	server("C", oracleGet, w.trustedByC())
	b.WriteString("steps:\n")
	for _, c := range oracleCases {
		if c.fxp {
			fmt.Fprintf(&b, "  - name: %s\n    fxp: {client: A, from: B:%s, to: C:%s, passive: %s}\n", c.name, oracleFXP, c.dest(), c.passive)
		} else {
			fmt.Fprintf(&b, "  - name: %s\n    get: {client: A, from: C:%s, to: /%s.bin, mode: %s}\n", c.name, oracleGet, c.name, c.mode)
		}
	}
	return b.String()
}

// runOracleLab runs world w as a lab and records each step's outcome.
func runOracleLab(t *testing.T, w oracleWorld, res *oracleResults) {
	src := oracleLab(w)
	lab, err := Load("oracle.yaml", []byte(src))
	require.NoError(t, err, "lab:\n%s", src)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Run(ctx, lab, Options{CaptureFile: filepath.Join(t.TempDir(), "oracle.pcapng"), CaptureData: CaptureNone})
	require.NoError(t, err)
	for _, c := range oracleCases {
		s := step(t, rep, c.name)
		o := outcome{ok: s.OK}
		if !s.OK {
			o.code = s.Code
		}
		res.put(false, w, c, o, s.Err)
	}
}

// runOracleKernel builds world w of network namespaces and runs each case
// there.
func runOracleKernel(t *testing.T, w oracleWorld, res *oracleResults) {
	id := w.id()
	ns := map[string]ftptest.Netns{}
	for _, h := range []string{"A", "B", "R", "C", "S"} { // S is the inside switch
		ns[h] = ftptest.AddNetns(t, id+h)
	}
	ns["S"].IP(t, "link", "add", "br0", "type", "bridge")
	ns["S"].IP(t, "link", "set", "br0", "up")
	for _, h := range []string{"A", "B", "R"} {
		port := "sw" + h
		ftptest.Veth(t, ns[h], "eth0", ns["S"], port)
		ns["S"].IP(t, "link", "set", "dev", port, "master", "br0")
	}
	ftptest.Veth(t, ns["R"], "eth1", ns["C"], "eth0")
	for h, p := range map[string]netip.Prefix{"A": oracleA, "B": oracleB, "C": oracleC} {
		ns[h].IP(t, "addr", "add", p.String(), "dev", "eth0")
	}
	ns["R"].IP(t, "addr", "add", oracleRin.String(), "dev", "eth0")
	ns["R"].IP(t, "addr", "add", oracleRex.String(), "dev", "eth1")
	for _, h := range []string{"A", "B"} {
		ns[h].IP(t, "route", "add", "default", "via", oracleRin.Addr().String())
	}
	if !w.nat {
		ns["C"].IP(t, "route", "add", oracleA.Masked().String(), "via", oracleRex.Addr().String())
	}
	ns["R"].Sysctl(t, "net.ipv4.ip_forward", "1")
	rules := filepath.Join(t.TempDir(), "router.nft")
	require.NoError(t, os.WriteFile(rules, []byte(oracleRuleset(w)), 0o600))
	ns["R"].Exec(t, "nft", "-f", rules)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	startOracleServer(t, ctx, ns["B"].Network(t), oracleB.Addr(), oracleFXP, []netip.Prefix{netip.PrefixFrom(oracleC.Addr(), 32)})
	c := startOracleServer(t, ctx, ns["C"].Network(t), oracleC.Addr(), oracleGet, w.trustedByC())
	a := ns["A"].Network(t)
	want := store.GeneratedSum(oracleSeed, oracleSize)
	for _, oc := range oracleCases {
		var err error
		if oc.fxp {
			err = oracleKernelFXP(ctx, a, oc, c)
		} else {
			err = oracleKernelGet(ctx, a, oc, want)
		}
		res.put(true, w, oc, outcomeOf(err), err)
	}
}

// oracleRuleset is R's nftables ruleset in world w.
func oracleRuleset(w oracleWorld) string {
	var b strings.Builder
	b.WriteString("table inet ftplab {\n")
	if w.helper != helperOff {
		b.WriteString(`	ct helper ftp {
		type "ftp" protocol tcp
	}
	chain prerouting {
		type filter hook prerouting priority filter; policy accept;
		tcp dport 21 ct helper set "ftp"
	}
`)
	}
	b.WriteString(`	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "eth0" accept
	}
`)
	if w.nat {
		b.WriteString(`	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "eth1" masquerade
	}
`)
	}
	b.WriteString("}\n")
	return b.String()
}

// startOracleServer serves file (generated) on addr:21 of network n until
// the test ends.
func startOracleServer(t *testing.T, ctx context.Context, n *ftptest.Network, addr netip.Addr, file string, trust []netip.Prefix) *store.Mem {
	mem := store.NewMem()
	require.NoError(t, mem.AddGenerated(file, oracleSize, oracleSeed))
	srv, err := server.New(server.Config{
		Network: n, Store: mem, Users: []server.User{{Name: oracleUser, Password: oraclePass}},
		TrustedPeers: trust, DataTimeout: oracleDataTimeout,
	})
	require.NoError(t, err)
	ln, err := n.Listen(ctx, "tcp", netip.AddrPortFrom(addr, 21).String())
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return mem
}

// oracleDial logs A in to the server at addr.
func oracleDial(ctx context.Context, a *ftptest.Network, addr netip.Addr, mode client.Mode) (*client.Client, error) {
	c, err := client.Dial(ctx, a, netip.AddrPortFrom(addr, 21).String(), client.Options{Mode: mode, Timeout: clientTimeout})
	if err != nil {
		return nil, err
	}
	if err := c.Login(ctx, oracleUser, oraclePass); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// oracleKernelGet downloads C's file from A in the case's mode and checks it.
func oracleKernelGet(ctx context.Context, a *ftptest.Network, oc oracleCase, want [sha256.Size]byte) error {
	c, err := oracleDial(ctx, a, oracleC.Addr(), oc.mode)
	if err != nil {
		return err
	}
	defer quit(ctx, c)
	var buf bytes.Buffer
	if _, err := c.Retr(ctx, oracleGet, &buf); err != nil {
		return err
	}
	if sha256.Sum256(buf.Bytes()) != want {
		return fmt.Errorf("downloaded %d bytes that differ from C's file", buf.Len())
	}
	return nil
}

// oracleKernelFXP copies B's file to C (cmem: C's store), A the client of both.
func oracleKernelFXP(ctx context.Context, a *ftptest.Network, oc oracleCase, cmem *store.Mem) error {
	src, err := oracleDial(ctx, a, oracleB.Addr(), client.ModeAuto)
	if err != nil {
		return err
	}
	defer quit(ctx, src)
	dst, err := oracleDial(ctx, a, oracleC.Addr(), client.ModeAuto)
	if err != nil {
		return err
	}
	defer quit(ctx, dst)
	if _, err := client.Transfer(ctx, src, oracleFXP, dst, oc.dest(), client.TransferOptions{Passive: oc.passive}); err != nil {
		return err
	}
	got, err := cmem.Sum(oc.dest())
	if err != nil {
		return err
	}
	if got != store.GeneratedSum(oracleSeed, oracleSize) {
		return fmt.Errorf("C's copy %s differs from B's file", oc.dest())
	}
	return nil
}
