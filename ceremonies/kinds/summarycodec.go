package kinds

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ceremony-hsm/ceremony/engine"
)

// The ceremonies part of a projection checkpoint is the one list reads
// (ARCHITECTURE.md, "Engine rules"), so it is a compact binary encoding
// rather than JSON: a table of the kinds, phases and steps named (few,
// repeated in every summary), then one record per ceremony, in order:
//
//	uvarint n, n × string                     the table
//	uvarint count
//	count × {
//	  string id
//	  uvarint kind, uvarint phase             indexes into the table
//	  byte flags                              1 ended, 2 waits for a step
//	  time started, time updated
//	  uvarint events
//	  [uvarint step, time deadline]           when flags has 2
//	}
//
// A string is a uvarint length and its bytes; a time is a varint of Unix
// seconds, a uvarint of nanoseconds and a varint of the zone's offset in
// seconds (a zero time is seconds 0, nanoseconds 1<<30). An ended
// ceremony takes about its id and 15 bytes.

const (
	summaryEnded   = 1
	summaryWaiting = 2
	zeroTimeNanos  = 1 << 30 // no real time has it: nanoseconds are < 1e9
)

// encodeSummaries returns the ceremonies part of a checkpoint.
func encodeSummaries(list []engine.CeremonySummary) []byte {
	index := map[string]uint64{}
	var table []string
	ref := func(s string) uint64 {
		i, ok := index[s]
		if !ok {
			i = uint64(len(table))
			index[s] = i
			table = append(table, s)
		}
		return i
	}
	body := make([]byte, 0, 48*len(list))
	body = binary.AppendUvarint(body, uint64(len(list)))
	for _, s := range list {
		body = appendString(body, s.ID)
		body = binary.AppendUvarint(body, ref(s.Kind))
		body = binary.AppendUvarint(body, ref(s.Phase))
		var flags byte
		if s.Ended {
			flags |= summaryEnded
		}
		if s.OpenStep != "" || !s.Deadline.IsZero() {
			flags |= summaryWaiting
		}
		body = append(body, flags)
		body = appendTime(body, s.Started)
		body = appendTime(body, s.Updated)
		body = binary.AppendUvarint(body, s.Events)
		if flags&summaryWaiting != 0 {
			body = binary.AppendUvarint(body, ref(s.OpenStep))
			body = appendTime(body, s.Deadline)
		}
	}
	out := binary.AppendUvarint(nil, uint64(len(table)))
	for _, s := range table {
		out = appendString(out, s)
	}
	return append(out, body...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		b = binary.AppendVarint(b, 0)
		b = binary.AppendUvarint(b, zeroTimeNanos)
		return binary.AppendVarint(b, 0)
	}
	_, off := t.Zone()
	b = binary.AppendVarint(b, t.Unix())
	b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
	return binary.AppendVarint(b, int64(off))
}

// summaryReader reads the encoding above; the first error sticks.
type summaryReader struct {
	b     []byte
	err   error
	zones map[int64]*time.Location
}

var errShort = errors.New("ends early")

func (r *summaryReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *summaryReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *summaryReader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = errShort
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *summaryReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.err = errShort
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *summaryReader) time() time.Time {
	sec, nsec, off := r.varint(), r.uvarint(), r.varint()
	switch {
	case r.err != nil:
		return time.Time{}
	case nsec == zeroTimeNanos && sec == 0 && off == 0:
		return time.Time{}
	case nsec >= 1e9 || off <= -24*3600 || off >= 24*3600:
		r.err = fmt.Errorf("a time out of range")
		return time.Time{}
	}
	loc := time.UTC
	if off != 0 {
		if loc = r.zones[off]; loc == nil {
			loc = time.FixedZone("", int(off))
			r.zones[off] = loc
		}
	}
	return time.Unix(sec, int64(nsec)).In(loc)
}

// decodeSummaries reads the ceremonies part of a checkpoint, strictly:
// an index out of the table, unknown flags or bytes after the end are
// errors.
func decodeSummaries(b []byte) ([]engine.CeremonySummary, error) {
	r := &summaryReader{b: b, zones: map[int64]*time.Location{}}
	n := r.uvarint()
	if n > uint64(len(b)) {
		return nil, fmt.Errorf("the ceremonies' table of %d names is longer than the part", n)
	}
	table := make([]string, 0, n)
	for range n {
		table = append(table, r.string())
	}
	name := func() string {
		i := r.uvarint()
		if r.err == nil && i >= uint64(len(table)) {
			r.err = fmt.Errorf("name %d of a table of %d", i, len(table))
		}
		if r.err != nil {
			return ""
		}
		return table[i]
	}
	count := r.uvarint()
	if count > uint64(len(r.b)) {
		return nil, fmt.Errorf("%d ceremonies cannot fit in the part", count)
	}
	out := make([]engine.CeremonySummary, 0, count)
	for range count {
		var s engine.CeremonySummary
		s.ID = r.string()
		s.Kind = name()
		s.Phase = name()
		flags := r.byte()
		if flags&^(summaryEnded|summaryWaiting) != 0 {
			r.err = fmt.Errorf("unknown flags %#x", flags)
		}
		s.Ended = flags&summaryEnded != 0
		s.Started = r.time()
		s.Updated = r.time()
		s.Events = r.uvarint()
		if flags&summaryWaiting != 0 {
			s.OpenStep = name()
			s.Deadline = r.time()
		}
		if r.err != nil {
			return nil, fmt.Errorf("ceremony %d of %d: %w", len(out)+1, count, r.err)
		}
		out = append(out, s)
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) > 0 {
		return nil, fmt.Errorf("%d bytes after the last ceremony", len(r.b))
	}
	return out, nil
}
