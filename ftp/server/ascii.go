package server

import "io"

// asciiEncoder converts a stored file to TYPE A on the wire: each LF is sent
// as CR LF (RFC 959 §3.1.1.1).
type asciiEncoder struct {
	w   io.Writer
	buf []byte
}

// Write converts p and writes it on.
func (e *asciiEncoder) Write(p []byte) (int, error) {
	e.buf = e.buf[:0]
	for _, b := range p {
		if b == '\n' {
			e.buf = append(e.buf, '\r')
		}
		e.buf = append(e.buf, b)
	}
	if _, err := e.w.Write(e.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// asciiDecoder converts TYPE A from the wire to the stored form: CR LF
// becomes LF; a CR not followed by LF is kept.
type asciiDecoder struct {
	w   io.Writer
	cr  bool // the last byte written was a CR, held back
	buf []byte
}

// Write converts p and writes it on, holding back a final CR.
func (d *asciiDecoder) Write(p []byte) (int, error) {
	d.buf = d.buf[:0]
	for _, b := range p {
		if d.cr {
			d.cr = false
			if b != '\n' {
				d.buf = append(d.buf, '\r')
			}
		}
		if b == '\r' {
			d.cr = true
			continue
		}
		d.buf = append(d.buf, b)
	}
	if _, err := d.w.Write(d.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes a CR held back at the end of the data.
func (d *asciiDecoder) Flush() error {
	if !d.cr {
		return nil
	}
	d.cr = false
	_, err := d.w.Write([]byte{'\r'})
	return err
}
