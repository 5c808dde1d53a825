package report

import (
	"strings"

	"github.com/ftplab/ftplab/labs/ladder"
)

// commandRFC says which RFC (and section) defines each FTP command.
var commandRFC = map[string]string{
	"SOCK": "RFC 478", "RTRV": "RFC 478",
	"USER": "RFC 959 §4.1.1", "PASS": "RFC 959 §4.1.1", "ACCT": "RFC 959 §4.1.1", "CWD": "RFC 959 §4.1.1",
	"CDUP": "RFC 959 §4.1.1", "SMNT": "RFC 959 §4.1.1", "REIN": "RFC 959 §4.1.1", "QUIT": "RFC 959 §4.1.1",
	"PORT": "RFC 959 §4.1.2", "PASV": "RFC 959 §4.1.2", "TYPE": "RFC 959 §4.1.2", "STRU": "RFC 959 §4.1.2",
	"MODE": "RFC 959 §4.1.2",
	"RETR": "RFC 959 §4.1.3", "STOR": "RFC 959 §4.1.3", "STOU": "RFC 959 §4.1.3", "APPE": "RFC 959 §4.1.3",
	"ALLO": "RFC 959 §4.1.3", "RNFR": "RFC 959 §4.1.3", "RNTO": "RFC 959 §4.1.3", "ABOR": "RFC 959 §4.1.3",
	"DELE": "RFC 959 §4.1.3", "RMD": "RFC 959 §4.1.3", "MKD": "RFC 959 §4.1.3", "PWD": "RFC 959 §4.1.3",
	"LIST": "RFC 959 §4.1.3", "NLST": "RFC 959 §4.1.3", "SITE": "RFC 959 §4.1.3", "SYST": "RFC 959 §4.1.3",
	"STAT": "RFC 959 §4.1.3", "HELP": "RFC 959 §4.1.3", "NOOP": "RFC 959 §4.1.3",
	"EPRT": "RFC 2428 §2", "EPSV": "RFC 2428 §3",
	"MDTM": "RFC 3659 §3", "SIZE": "RFC 3659 §4", "REST": "RFC 3659 §5", "MLST": "RFC 3659 §7", "MLSD": "RFC 3659 §7",
	"FEAT": "RFC 2389 §3", "OPTS": "RFC 2389 §4",
	"AUTH": "RFC 2228 §3, RFC 4217 §4", "PBSZ": "RFC 2228 §3, RFC 4217 §8", "PROT": "RFC 2228 §3, RFC 4217 §9",
	"ADAT": "RFC 2228 §3", "CCC": "RFC 2228 §3", "MIC": "RFC 2228 §3", "CONF": "RFC 2228 §3", "ENC": "RFC 2228 §3",
	"LANG": "RFC 2640 §4.1", "HOST": "RFC 7151 §3",
}

// rfcOf says which RFC defines an event: a command's verb, a reply's code
// (227 from PASV, 229 from EPSV, the rest RFC 959 §4.2), or "".
func rfcOf(e ladder.Event) string {
	switch e.Kind {
	case ladder.Command:
		verb, _, _ := strings.Cut(e.Text, " ")
		return commandRFC[strings.ToUpper(verb)]
	case ladder.Reply:
		switch e.Code {
		case 0:
			return ""
		case 227:
			return "RFC 959 §4.1.2 (PASV)"
		case 229:
			return "RFC 2428 §3 (EPSV)"
		}
		return "RFC 959 §4.2"
	case ladder.DataOpen, ladder.DataClose, ladder.Refused:
		return "RFC 959 §3.2–3.3 (data connections)"
	case ladder.TLS:
		return "RFC 4217 (FTP over TLS)"
	}
	return ""
}
