package ladder

// Frame comments: what a middlebox said about a frame (an FTP helper
// rewriting a line, letting a data connection through) becomes the Note of
// the event made from that segment.

// segKey is a TCP segment of a connection.
type segKey struct {
	connKey
	seq uint32
	syn bool
}

// maxSegFrames bounds the segments remembered for comments (control
// connections and SYNs only, so a long capture stays far below it).
const maxSegFrames = 1 << 16

// note records the comment of frame n, the last one fed to packet: it
// belongs to the event of that segment, which may have been made from an
// earlier copy of it (the sender's, when a router recorded its own copy
// to say what it did).
func (a *analyzer) note(n int, text string) {
	if text == "" {
		return
	}
	if f, ok := a.segFrame[a.lastSeg]; ok {
		n = f
	}
	if old := a.notes[n]; old != "" {
		text = old + "; " + text
	}
	a.notes[n] = text
}

// attachNotes gives each event the comment of the frame that completed it.
func (a *analyzer) attachNotes(l *Ladder) {
	if len(a.notes) == 0 {
		return
	}
	for i := range l.Events {
		if n, ok := a.notes[l.Events[i].Frame]; ok {
			l.Events[i].Note = n
		}
	}
}
