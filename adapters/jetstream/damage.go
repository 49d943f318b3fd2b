package jetstream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// ErrDamaged is wrapped by the *DamageError Open returns when the trial
// start on a copy of the store's files shows they are damaged.
var ErrDamaged = errors.New("the event store's files are damaged")

// FileChange is what the embedded server did to one file of the store
// when it started on a copy of it.
type FileChange struct {
	File     string // relative to DataDir
	What     string // "removed", "added", "rewritten", "cut"
	OldSize  int64
	NewSize  int64
	FirstOff int64 // first byte that differs (for rewritten and cut)
}

func (c FileChange) String() string {
	switch c.What {
	case "removed":
		return fmt.Sprintf("%s (%d bytes) would be removed", c.File, c.OldSize)
	case "added":
		return fmt.Sprintf("%s would be created", c.File)
	case "cut":
		return fmt.Sprintf("%s would be cut from %d to %d bytes (the record at offset %d is damaged)", c.File, c.OldSize, c.NewSize, c.NewSize)
	}
	return fmt.Sprintf("%s would be rewritten from offset %d (%d bytes, then %d)", c.File, c.FirstOff, c.OldSize, c.NewSize)
}

// DamageError says how the store's files are damaged, as a trial start of
// the embedded server on a copy of them showed: the files it would change,
// the stream sequences it would lose, the ceremonies of the records
// concerned, and what the check of the history (Config.Check) said. The
// files themselves are untouched.
type DamageError struct {
	DataDir    string
	Changes    []FileChange
	Lost       []uint64        // stream sequences the server reports lost
	Gaps       []uint64        // sequences missing between others (the stream denies deletes)
	Missing    bool            // the stream is gone (its meta files are missing or damaged)
	Records    []DamagedRecord // where the lost or missing sequences are in the block files, as far as their headers can be read
	Ceremonies []string        // of the records in the damaged parts, as far as they can be read
	Check      error           // from Config.Check, or nil
}

func (e *DamageError) Unwrap() []error {
	if e.Check != nil {
		return []error{ErrDamaged, e.Check}
	}
	return []error{ErrDamaged}
}

func (e *DamageError) Error() string {
	var parts []string
	if e.Missing {
		parts = append(parts, "the server would not find the event stream (its meta files meta.inf/meta.sum are missing or damaged)")
	}
	for _, c := range e.Changes {
		parts = append(parts, c.String())
	}
	if len(e.Lost) > 0 {
		parts = append(parts, "stream sequences "+seqRanges(e.Lost)+" would be lost")
	}
	if len(e.Gaps) > 0 {
		parts = append(parts, "stream sequences "+seqRanges(e.Gaps)+" are missing")
	}
	for i, r := range e.Records {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more damaged records", len(e.Records)-i))
			break
		}
		parts = append(parts, r.String())
	}
	if len(e.Ceremonies) > 0 {
		parts = append(parts, "ceremonies concerned: "+strings.Join(e.Ceremonies, ", "))
	}
	if e.Check != nil {
		parts = append(parts, e.Check.Error())
	}
	return fmt.Sprintf("%s in %s, nothing was changed: %s", ErrDamaged, e.DataDir, strings.Join(parts, "; "))
}

// DamagedRecord is a record of a block file whose stream sequence the
// server does not serve.
type DamagedRecord struct {
	File     string // relative to DataDir
	Offset   int64
	Seq      uint64
	Ceremony string
}

func (r DamagedRecord) String() string {
	return fmt.Sprintf("%s offset %d: the record of stream sequence %d (ceremony %s) is damaged", r.File, r.Offset, r.Seq, r.Ceremony)
}

// locateRecords finds the records of seqs in the stream's block files
// under the store directory src (nats-server's filestore record: a 22-byte
// header of length, sequence, time and subject length, the subject, the
// payload, an 8-byte checksum).
func locateRecords(src, stream string, seqs []uint64) []DamagedRecord {
	if len(seqs) == 0 {
		return nil
	}
	want := map[uint64]bool{}
	for _, q := range seqs {
		want[q] = true
	}
	blks, _ := filepath.Glob(filepath.Join(src, "jetstream", "*", "streams", stream, "msgs", "*.blk"))
	var out []DamagedRecord
	for _, blk := range blks {
		b, err := os.ReadFile(blk)
		if err != nil {
			continue
		}
		rel, _ := filepath.Rel(filepath.Dir(src), blk)
		walkRecords(b, 0, func(off int64, seq uint64, subj string) {
			if want[seq] {
				out = append(out, DamagedRecord{File: rel, Offset: off, Seq: seq, Ceremony: subjectCeremony(subj)})
			}
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// walkRecords calls fn for each record of a block from offset on whose
// header is sane, and stops at the first that is not.
func walkRecords(b []byte, offset int64, fn func(off int64, seq uint64, subject string)) {
	const hdr = 22
	for i := offset; i+hdr <= int64(len(b)); {
		rl := int64(binary.LittleEndian.Uint32(b[i:]) &^ (1 << 31)) // the top bit flags headers
		slen := int64(binary.LittleEndian.Uint16(b[i+20:]))
		if rl < hdr+8 || i+rl > int64(len(b)) || hdr+slen > rl {
			return
		}
		seq := binary.LittleEndian.Uint64(b[i+4:]) &^ (1<<63 | 1<<62) // the top bits flag erased records and tombstones
		fn(i, seq, string(b[i+hdr:i+hdr+slen]))
		i += rl
	}
}

// subjectCeremony returns the ceremony of an event subject, or "".
func subjectCeremony(subj string) string {
	parts := strings.SplitN(subj, ".", 3)
	if len(parts) == 3 && parts[0] == "ceremony" && printable(parts[1]) {
		return parts[1]
	}
	return ""
}

// seqRanges writes sorted sequences as ranges: "3-7, 9".
func seqRanges(seqs []uint64) string {
	s := append([]uint64(nil), seqs...)
	slices.Sort(s)
	s = slices.Compact(s)
	var out []string
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if i == j {
			out = append(out, fmt.Sprint(s[i]))
		} else {
			out = append(out, fmt.Sprintf("%d-%d", s[i], s[j]))
		}
		i = j + 1
	}
	return strings.Join(out, ", ")
}

// appendCeremonies adds the ceremonies of the records of a message block
// from offset on, as far as their headers can be read.
func appendCeremonies(have []string, blk string, offset int64) []string {
	if !strings.HasSuffix(blk, ".blk") {
		return have
	}
	b, err := os.ReadFile(blk)
	if err != nil {
		return have
	}
	walkRecords(b, offset, func(_ int64, _ uint64, subj string) {
		if c := subjectCeremony(subj); c != "" && !slices.Contains(have, c) {
			have = append(have, c)
		}
	})
	return have
}

func printable(s string) bool {
	return s != "" && bytes.IndexFunc([]byte(s), func(r rune) bool { return r < 0x21 || r > 0x7e }) < 0
}
