package tlsdec

import "fmt"

// hsReader splits one direction's handshake bytes into messages, keeping
// the bodies of those asked for (up to maxKept bytes) and skipping the
// others as they stream by.
type hsReader struct {
	head   [4]byte // type and 24-bit length
	nhead  int
	remain int // body bytes still to come
	keep   bool
	body   []byte
}

// idle reports whether no message is half read.
func (r *hsReader) idle() bool { return r.nhead == 0 }

// feed reads handshake bytes p, calling msg for each message they
// complete (body nil unless keep said to keep it).
func (r *hsReader) feed(p []byte, keep func(typ byte) bool, msg func(typ byte, body []byte) error) error {
	for len(p) > 0 {
		if r.nhead < len(r.head) {
			n := copy(r.head[r.nhead:], p)
			r.nhead, p = r.nhead+n, p[n:]
			if r.nhead < len(r.head) {
				return nil
			}
			r.remain = int(r.head[1])<<16 | int(r.head[2])<<8 | int(r.head[3])
			r.keep = keep(r.head[0])
			if r.keep && r.remain > maxKept {
				return fmt.Errorf("handshake message %d of %d bytes: too long to follow", r.head[0], r.remain)
			}
			r.body = r.body[:0]
		}
		n := min(r.remain, len(p))
		if r.keep {
			r.body = append(r.body, p[:n]...)
		}
		r.remain, p = r.remain-n, p[n:]
		if r.remain > 0 {
			return nil
		}
		r.nhead = 0
		var body []byte
		if r.keep {
			body = r.body
		}
		if err := msg(r.head[0], body); err != nil {
			return err
		}
	}
	return nil
}
