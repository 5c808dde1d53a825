package server

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ftplab/ftplab/ftp/store"
)

// handler is what the server does for one verb. Every command needs a
// logged-in user unless its handler says preLogin.
type handler struct {
	fn       func(s *session, c command)
	preLogin bool // may come before login: the login itself and harmless queries
	write    bool // changes files: refused to read-only users
	help     string
}

// commands maps each verb the server knows to its handler. Before login,
// only these are open: USER, PASS and ACCT (the login sequence of RFC 959
// §5.4), QUIT, NOOP, and the queries a client makes before it logs in,
// which disclose nothing about files: SYST, HELP, FEAT and OPTS (RFC 2389
// §3: FEAT before login; RFC 2640's OPTS UTF8 ON) and STAT without a path
// (cmdSTAT asks for a login when it has one), and AUTH, PBSZ, PROT and
// CCC of TLS (RFC 4217 §4 puts AUTH before USER). vsftpd opens USER, PASS,
// QUIT, FEAT and OPTS (and AUTH, PBSZ, PROT); BSD ftpd also NOOP, SYST,
// HELP and STAT.
var commands map[string]handler

func init() {
	commands = map[string]handler{
		"USER": {fn: (*session).cmdUSER, preLogin: true, help: "USER <name>: start login"},
		"PASS": {fn: (*session).cmdPASS, preLogin: true, help: "PASS <password>: finish login"},
		"ACCT": {fn: notImplemented("accounts are not used here; USER and PASS are enough"), preLogin: true, help: "ACCT: not implemented"},
		"REIN": {fn: notImplemented("log in again with USER instead"), help: "REIN: not implemented"},
		"SMNT": {fn: notImplemented("there is one file system per user"), help: "SMNT: not implemented"},
		"QUIT": {fn: (*session).cmdQUIT, preLogin: true, help: "QUIT: end the session"},
		"NOOP": {fn: func(s *session, _ command) { s.reply(200, "NOOP ok.") }, preLogin: true, help: "NOOP: do nothing"},
		"SYST": {fn: func(s *session, _ command) { s.reply(215, "UNIX Type: L8") }, preLogin: true, help: "SYST: system type"},
		"HELP": {fn: (*session).cmdHELP, preLogin: true, help: "HELP [command]: this list"},
		"FEAT": {fn: (*session).cmdFEAT, preLogin: true, help: "FEAT: extensions (RFC 2389)"},
		"OPTS": {fn: (*session).cmdOPTS, preLogin: true, help: "OPTS UTF8 ON | MLST facts"},
		"AUTH": {fn: (*session).cmdAUTH, preLogin: true, help: "AUTH TLS: protect the control connection (RFC 4217)"},
		"PBSZ": {fn: (*session).cmdPBSZ, preLogin: true, help: "PBSZ 0: protection buffer size (RFC 4217)"},
		"PROT": {fn: (*session).cmdPROT, preLogin: true, help: "PROT C | P: data connections clear or protected (RFC 4217)"},
		"CCC":  {fn: (*session).cmdCCC, preLogin: true, help: "CCC: clear the control connection (refused unless the server allows it)"},
		"SSCN": {fn: (*session).cmdSSCN, help: "SSCN [ON|OFF]: be the TLS client on data connections (secure FXP)"},
		"CPSV": {fn: (*session).cmdCPSV, help: "CPSV: PASV, the server being the TLS client on the data connection"},
		"ALLO": {fn: func(s *session, _ command) { s.reply(202, "ALLO not needed: no space is reserved.") }, help: "ALLO <n>: superfluous"},
		"MODE": {fn: (*session).cmdMODE, help: "MODE S: stream mode only"},
		"STRU": {fn: (*session).cmdSTRU, help: "STRU F: file structure only"},
		"TYPE": {fn: (*session).cmdTYPE, help: "TYPE A | I: ASCII (CRLF) or binary"},

		"PWD":  {fn: (*session).cmdPWD, help: "PWD: current directory"},
		"CWD":  {fn: (*session).cmdCWD, help: "CWD <dir>: change directory"},
		"CDUP": {fn: (*session).cmdCDUP, help: "CDUP: go to the parent directory"},
		"MKD":  {fn: (*session).cmdMKD, write: true, help: "MKD <dir>: make a directory"},
		"RMD":  {fn: (*session).cmdRMD, write: true, help: "RMD <dir>: remove an empty directory"},
		"DELE": {fn: (*session).cmdDELE, write: true, help: "DELE <file>: delete a file"},
		"RNFR": {fn: (*session).cmdRNFR, write: true, help: "RNFR <from>: rename from"},
		"RNTO": {fn: (*session).cmdRNTO, write: true, help: "RNTO <to>: rename to"},
		"SIZE": {fn: (*session).cmdSIZE, help: "SIZE <file>: size in the current TYPE (RFC 3659)"},
		"MDTM": {fn: (*session).cmdMDTM, help: "MDTM <file>: modification time (RFC 3659)"},
		"MLST": {fn: (*session).cmdMLST, help: "MLST [path]: facts of one entry (RFC 3659)"},
		"STAT": {fn: (*session).cmdSTAT, preLogin: true, help: "STAT [path]: server, file or transfer status"},

		"PORT": {fn: (*session).cmdPORT, help: "PORT h1,h2,h3,h4,p1,p2: active data connection"},
		"EPRT": {fn: (*session).cmdEPRT, help: "EPRT |proto|addr|port|: active, IPv4 or IPv6 (RFC 2428)"},
		"PASV": {fn: func(s *session, c command) { s.cmdPASV(c) }, help: "PASV: passive data connection"},
		"EPSV": {fn: (*session).cmdEPSV, help: "EPSV [1|2|ALL]: extended passive (RFC 2428)"},
		"SOCK": {fn: (*session).cmdPORT, help: "SOCK h1,h2,h3,h4,p1,p2: RFC 478 data socket; a later PASV uses port L-1 and accepts only it"},
		"REST": {fn: (*session).cmdREST, help: "REST <offset>: restart a transfer (REST STREAM)"},
		"RETR": {fn: (*session).cmdRETR, help: "RETR <file>: download"},
		"RTRV": {fn: (*session).cmdRETR, help: "RTRV <file>: RFC 478's RETR"},
		"STOR": {fn: (*session).cmdSTOR, write: true, help: "STOR <file>: upload"},
		"STOU": {fn: (*session).cmdSTOU, write: true, help: "STOU: upload to a unique name"},
		"APPE": {fn: (*session).cmdAPPE, write: true, help: "APPE <file>: append"},
		"ABOR": {fn: func(s *session, _ command) { s.data.reset(); s.reply(226, "No transfer to abort.") }, help: "ABOR: abort the transfer"},
		"LIST": {fn: (*session).cmdLIST, help: "LIST [path]: long listing"},
		"NLST": {fn: (*session).cmdNLST, help: "NLST [path]: names"},
		"MLSD": {fn: (*session).cmdMLSD, help: "MLSD [dir]: machine listing (RFC 3659)"},
	}
	for _, a := range [][2]string{{"XPWD", "PWD"}, {"XCWD", "CWD"}, {"XCUP", "CDUP"}, {"XMKD", "MKD"}, {"XRMD", "RMD"}} {
		h := commands[a[1]]
		h.help = a[0] + ": old name of " + a[1]
		commands[a[0]] = h
	}
}

func notImplemented(why string) func(*session, command) {
	return func(s *session, c command) { s.reply(502, fmt.Sprintf("%s not implemented: %s.", c.verb, why)) }
}

// exec runs one command.
func (s *session) exec(c command) {
	if c.err != nil {
		s.reply(500, fmt.Sprintf("Syntax error: %v.", c.err))
		return
	}
	h, ok := commands[c.verb]
	if !ok {
		s.reply(500, fmt.Sprintf("Unknown command %q.", clip(c.verb)))
		return
	}
	defer c.release()
	if c.verb != "RNTO" {
		defer s.clearRNFR(c.verb)
	}
	switch {
	case !h.preLogin && !s.loggedIn:
		s.askLogin()
	case h.write && s.readOnly:
		s.reply(550, fmt.Sprintf("%s refused: permission denied (read-only user).", c.verb))
	default:
		h.fn(s, c)
	}
}

// askLogin refuses a command that needs a login.
func (s *session) askLogin() { s.reply(530, "Please log in with USER and PASS.") }

// clearRNFR forgets a pending RNFR unless verb is RNFR itself: RNTO must
// follow RNFR at once.
func (s *session) clearRNFR(verb string) {
	if verb != "RNFR" {
		s.rnfr = ""
	}
}

func (s *session) cmdUSER(c command) {
	if c.arg == "" {
		s.reply(501, "USER needs a name.")
		return
	}
	if s.srv.cfg.RequireTLS && !s.secure {
		s.reply(530, "TLS required: send AUTH TLS before USER.")
		return
	}
	s.data.reset()
	s.setLoggedIn(false)
	s.user, s.readOnly, s.fs, s.fsID, s.cwd = c.arg, false, nil, 0, "/"
	if s.anonymous() {
		s.reply(331, "Anonymous login ok, send your e-mail address as password.")
		return
	}
	s.reply(331, fmt.Sprintf("Password required for %s.", clip(c.arg)))
}

func (s *session) anonymous() bool {
	u := strings.ToLower(s.user)
	return s.srv.cfg.Anonymous && (u == "anonymous" || u == "ftp")
}

func (s *session) cmdPASS(c command) {
	if s.user == "" || s.loggedIn {
		s.reply(503, "Login with USER first.")
		return
	}
	cfg := s.srv.cfg
	if s.anonymous() {
		s.setLoggedIn(true)
		s.readOnly, s.fs = !cfg.AnonymousWrite || cfg.ReadOnly, cfg.Store
		s.log.Info("ftp login", "user", "anonymous")
		s.reply(230, "Anonymous user logged in.")
		return
	}
	i := slices.IndexFunc(cfg.Users, func(u User) bool { return u.Name == s.user })
	if i < 0 || cfg.Users[i].Password != c.arg {
		s.loginFailed()
		return
	}
	u := cfg.Users[i]
	s.setLoggedIn(true)
	s.readOnly, s.fs, s.fsID = u.ReadOnly || cfg.ReadOnly, u.Store, i+1
	if s.fs == nil {
		s.fs, s.fsID = cfg.Store, 0
	}
	s.log.Info("ftp login", "user", u.Name)
	s.reply(230, fmt.Sprintf("User %s logged in.", u.Name))
}

// loginFailed answers a failed PASS after the configured delay, and ends
// the session after too many failures.
func (s *session) loginFailed() {
	cfg := s.srv.cfg
	s.fails++
	s.log.Warn("ftp login failed", "user", s.user, "failures", s.fails)
	s.user = ""
	if cfg.LoginFailDelay > 0 && !s.pause(cfg.LoginFailDelay) {
		return
	}
	s.reply(530, "Login incorrect.")
	if cfg.MaxLoginFails > 0 && s.fails >= cfg.MaxLoginFails {
		s.reply(421, fmt.Sprintf("Too many failed logins (%d): closing control connection.", s.fails))
		s.quit = true
	}
}

func (s *session) cmdQUIT(command) {
	s.reply(221, "Goodbye.")
	s.quit = true
}

func (s *session) cmdHELP(c command) {
	if c.arg != "" {
		h, ok := commands[strings.ToUpper(c.arg)]
		if !ok {
			s.reply(502, fmt.Sprintf("Unknown command %q.", clip(c.arg)))
			return
		}
		s.reply(214, h.help)
		return
	}
	verbs := make([]string, 0, len(commands))
	for v := range commands {
		verbs = append(verbs, v)
	}
	slices.Sort(verbs)
	lines := []string{"The following commands are recognized (RFC 959, RFC 478 SOCK and RTRV):"}
	for i := 0; i < len(verbs); i += 8 {
		lines = append(lines, strings.Join(verbs[i:min(i+8, len(verbs))], " "))
	}
	s.reply(214, append(lines, "HELP command ok.")...)
}

// allFacts are the MLST facts the server offers, all on by default.
var allFacts = []string{"type", "size", "modify", "perm"}

func (s *session) cmdFEAT(command) {
	var facts strings.Builder
	for _, f := range allFacts {
		facts.WriteString(f)
		if slices.Contains(s.facts, f) {
			facts.WriteString("*")
		}
		facts.WriteString(";")
	}
	lines := []string{"Extensions supported:"}
	if s.srv.tls != nil {
		lines = append(lines, tlsFeatures...)
	}
	lines = append(lines, "EPRT", "EPSV", "MDTM", "MLST "+facts.String(), "REST STREAM", "SIZE", "TVFS", "UTF8", "End")
	s.reply(211, lines...)
}

func (s *session) cmdOPTS(c command) {
	opt, val, _ := strings.Cut(c.arg, " ")
	switch strings.ToUpper(opt) {
	case "UTF8", "UTF-8":
		if strings.EqualFold(val, "ON") || val == "" {
			s.reply(200, "UTF8 mode on.")
			return
		}
		s.reply(504, fmt.Sprintf("OPTS UTF8 %q: only ON is supported.", clip(val)))
	case "MLST":
		var on []string
		for _, f := range strings.Split(val, ";") {
			if f = strings.ToLower(strings.TrimSpace(f)); slices.Contains(allFacts, f) && !slices.Contains(on, f) {
				on = append(on, f)
			}
		}
		s.facts = on
		s.reply(200, "MLST OPTS "+strings.Join(on, ";")+map[bool]string{true: ";", false: ""}[len(on) > 0])
	default:
		s.reply(501, fmt.Sprintf("OPTS %q: unknown option.", clip(opt)))
	}
}

func (s *session) cmdMODE(c command) {
	if !strings.EqualFold(c.arg, "S") {
		s.reply(504, fmt.Sprintf("MODE %q not supported: stream mode (S) only.", clip(c.arg)))
		return
	}
	s.reply(200, "Mode set to S.")
}

func (s *session) cmdSTRU(c command) {
	if !strings.EqualFold(c.arg, "F") {
		s.reply(504, fmt.Sprintf("STRU %q not supported: file structure (F) only.", clip(c.arg)))
		return
	}
	s.reply(200, "Structure set to F.")
}

func (s *session) cmdTYPE(c command) {
	f := strings.Fields(strings.ToUpper(c.arg))
	switch {
	case len(f) >= 1 && f[0] == "I", len(f) == 2 && f[0] == "L" && f[1] == "8":
		s.ascii = false
		s.reply(200, "Type set to I.")
	case len(f) == 1 && f[0] == "A", len(f) == 2 && f[0] == "A" && f[1] == "N":
		s.ascii = true
		s.reply(200, "Type set to A.")
	case len(f) == 0:
		s.reply(501, "TYPE needs an argument: A or I.")
	default:
		s.reply(504, fmt.Sprintf("TYPE %q not supported: A, A N, I or L 8.", clip(c.arg)))
	}
}

func (s *session) cmdREST(c command) {
	var n int64
	if _, err := fmt.Sscanf(c.arg, "%d", &n); err != nil || n < 0 || fmt.Sprint(n) != c.arg {
		s.reply(501, fmt.Sprintf("REST %q: want a byte offset, 0 or more.", clip(c.arg)))
		return
	}
	s.rest = n
	s.reply(350, fmt.Sprintf("Restarting at %d. Send STOR or RETR to initiate transfer.", n))
}

// path resolves an argument against the working directory, answering 553
// (and returning false) for one that is no valid name.
func (s *session) path(arg string) (string, bool) {
	p, err := store.Resolve(s.cwd, arg)
	if err != nil {
		s.reply(553, fmt.Sprintf("Bad path: %v.", err))
		return "", false
	}
	return p, true
}
