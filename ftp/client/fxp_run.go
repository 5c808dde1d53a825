package client

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/ftplab/ftplab/ftp/proto"
)

// legDone is a leg's reader reporting the final reply to its transfer
// command, or why it has none.
type legDone struct {
	l     *leg
	reply Reply
	err   error
}

// isStatReply tells a reply to STAT (211 system, 212 directory, 213 file
// status) from the final reply of a transfer command, which is never 21x.
func isStatReply(code int) bool { return code >= 211 && code <= 213 }

// readFinal reads one leg's replies up to the next final reply, consuming
// the replies to STAT commands counted in stats and reporting their byte
// counts to progress.
func readFinal(ctx context.Context, c *Client, stats *atomic.Int32, progress func(int64)) (Reply, error) {
	for {
		code, msg, err := c.Read(ctx)
		if err != nil {
			return Reply{}, err
		}
		if code/100 == 1 {
			continue
		}
		if isStatReply(code) && stats.Load() > 0 {
			stats.Add(-1)
			if n, ok := proto.ParseByteCount(msg); ok && progress != nil {
				progress(n)
			}
			continue
		}
		return Reply{Code: code, Msg: msg}, nil
	}
}

// run waits for both legs' final replies, polling the destination with STAT
// for progress, and ABORs the other leg as soon as one fails.
func run(ctx context.Context, legs [2]*leg, opts TransferOptions) error {
	done := make(chan legDone, len(legs))
	var stats [2]atomic.Int32
	var cancels [2]context.CancelFunc
	for i, l := range legs {
		lctx, cancel := context.WithCancel(ctx)
		cancels[i] = cancel
		defer cancel()
		progress := opts.Progress
		if l.side != Destination {
			progress = nil
		}
		go func() {
			r, err := readFinal(lctx, l.c, &stats[i], progress)
			done <- legDone{l: l, reply: r, err: err}
		}()
	}
	var tick <-chan time.Time
	if opts.Progress != nil {
		every := opts.PollInterval
		if every <= 0 {
			every = DefaultPollInterval
		}
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	var abortTimer <-chan time.Time
	var first error
	for remaining := len(legs); remaining > 0; {
		select {
		case d := <-done:
			remaining--
			d.l.done, d.l.final, d.l.err, d.l.broken = true, d.reply, d.err, d.err != nil
			if d.err == nil && d.reply.Code/100 != 2 {
				d.l.err = &ReplyError{Command: d.l.cmd, Code: d.reply.Code, Msg: d.reply.Msg}
			}
			if d.l.err == nil || first != nil {
				continue
			}
			first = d.l.fail(d.l.err)
			other := legs[0]
			if d.l == legs[0] {
				other = legs[1]
			}
			if !other.done {
				other.aborted = true
				actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortWait)
				if err := other.c.sendAbort(actx); err != nil {
					other.c.log.Debug("ABOR failed", "err", err)
				}
				cancel()
				abortTimer = time.After(abortWait)
			}
		case <-tick:
			dst := legs[1]
			if !dst.done && stats[1].Load() == 0 {
				stats[1].Add(1)
				if err := dst.c.Send(ctx, "STAT"); err != nil {
					stats[1].Add(-1)
				}
			}
		case <-abortTimer:
			for i, l := range legs {
				if l.aborted && !l.done {
					cancels[i]()
				}
			}
		}
	}
	// Read what is still owed: ABOR's own reply on an aborted leg, and the
	// replies to STAT commands still in flight, unless the connection broke.
	for i, l := range legs {
		if l.broken {
			continue
		}
		owed := 0
		if l.aborted {
			owed = 1
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortWait)
		if err := l.c.drain(dctx, &stats[i], owed); err != nil {
			l.c.log.Debug("replies left unread after third-party transfer", "err", err)
		}
		cancel()
	}
	return first
}

// drain reads up to finals final replies and the replies to every STAT
// still counted in stats (nil for none).
func (c *Client) drain(ctx context.Context, stats *atomic.Int32, finals int) error {
	if stats == nil {
		stats = new(atomic.Int32)
	}
	for finals > 0 || stats.Load() > 0 {
		code, _, err := c.Read(ctx)
		if err != nil {
			return err
		}
		switch {
		case code/100 == 1:
		case isStatReply(code) && stats.Load() > 0:
			stats.Add(-1)
		default:
			finals--
		}
	}
	return nil
}
