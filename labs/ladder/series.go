package ladder

import "time"

// maxBuckets bounds a Series: however long the transfer, its progress is
// summarised in at most this many intervals.
const maxBuckets = 240

// Series is a data connection's progress over time in equal intervals:
// bytes first sent in each (new sequence space, retransmissions not
// counted again) and retransmitted segments seen in each.
type Series struct {
	// Start is the start of the first interval (the connection's SYN);
	// Step each interval's length.
	Start time.Time
	Step  time.Duration
	// Bytes and Retransmits hold one value per interval.
	Bytes       []int64
	Retransmits []int
}

// seriesBuilder fills a Series in constant memory: when a sample falls
// past the last interval, neighbouring intervals merge and Step doubles.
type seriesBuilder struct{ s Series }

func newSeriesBuilder(start time.Time) *seriesBuilder {
	return &seriesBuilder{Series{Start: start, Step: time.Millisecond}}
}

// add counts bytes and retransmissions at ts.
func (b *seriesBuilder) add(ts time.Time, bytes int64, retrans int) {
	s := &b.s
	at := max(0, ts.Sub(s.Start))
	for at >= s.Step*maxBuckets {
		for i := 0; i < len(s.Bytes); i += 2 {
			j := i / 2
			s.Bytes[j], s.Retransmits[j] = s.Bytes[i], s.Retransmits[i]
			if i+1 < len(s.Bytes) {
				s.Bytes[j] += s.Bytes[i+1]
				s.Retransmits[j] += s.Retransmits[i+1]
			}
		}
		s.Bytes, s.Retransmits = s.Bytes[:(len(s.Bytes)+1)/2], s.Retransmits[:(len(s.Retransmits)+1)/2]
		s.Step *= 2
	}
	i := int(at / s.Step)
	for len(s.Bytes) <= i {
		s.Bytes, s.Retransmits = append(s.Bytes, 0), append(s.Retransmits, 0)
	}
	s.Bytes[i] += bytes
	s.Retransmits[i] += retrans
}

// series returns the Series built (zero for a nil builder).
func (b *seriesBuilder) series() Series {
	if b == nil {
		return Series{}
	}
	return b.s
}
