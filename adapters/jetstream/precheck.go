package jetstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/ceremony-hsm/ceremony/events"
)

// ErrDamaged is wrapped by the *DamageError Open returns when the trial
// start on a copy of the store's files shows they are damaged.
var ErrDamaged = errors.New("the event store's files are damaged")

// checkDirPrefix names the throw-away copies of the store files in the
// data directory (removed after each trial; a leftover of a killed
// process is removed at the next open).
const checkDirPrefix = ".store-check-"

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

// precheck starts the embedded server on a throw-away copy of the store
// files before it may start on them (ARCHITECTURE.md, "Events": a damaged
// store is never made worse). nats-server repairs a damaged message block
// at start by cutting it at the first bad record, which loses every record
// after it: whatever it would do, it does to the copy. The store is
// refused (*DamageError) when the server changed a file other than its
// index (msgs/index.db, rebuilt from the blocks), reported lost records,
// holds a gap (the stream denies deletes), lost the stream, or when
// cfg.Check refuses the history it holds. A store without the stream's
// directory yet is not checked.
func precheck(ctx context.Context, cfg Config) error {
	src := cfg.storeDir()
	if err := removeLeftovers(cfg.DataDir); err != nil {
		return err
	}
	if dirs, _ := filepath.Glob(filepath.Join(src, "jetstream", "*", "streams", cfg.streamName())); len(dirs) == 0 {
		return nil // a new store (a store that lost its whole stream directory fails the transparency log's check after open)
	}
	before, err := digestDir(src)
	if err != nil {
		return err
	}
	tmp, err := makeCheckCopy(cfg.DataDir, src)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	trial := Config{DataDir: tmp, Sync: cfg.Sync, Stream: cfg.Stream}
	st, checkErr, err := trialOpen(ctx, trial, cfg.Check)
	if err != nil {
		return err
	}
	after, err := digestDir(trial.storeDir())
	if err != nil {
		return err
	}
	dmg := &DamageError{DataDir: cfg.DataDir, Check: checkErr}
	if st == nil {
		dmg.Missing = true
	} else {
		dmg.Lost, dmg.Gaps = st.lost, st.gaps
	}
	dmg.Records = locateRecords(src, trial.streamName(), append(append([]uint64(nil), dmg.Lost...), dmg.Gaps...))
	for _, r := range dmg.Records {
		if !slices.Contains(dmg.Ceremonies, r.Ceremony) && r.Ceremony != "" {
			dmg.Ceremonies = append(dmg.Ceremonies, r.Ceremony)
		}
	}
	healable := true
	for _, c := range compareDigests(before, after, src, trial.storeDir()) {
		c.File = filepath.Join("jetstream", c.File)
		if filepath.Base(c.File) == "index.db" {
			continue // the stream's state, rebuilt from the blocks
		}
		if !inStream(c.File, trial.streamName()) {
			continue // another stream (the leases' bucket, whose old entries expire at start)
		}
		healable = false
		dmg.Changes = append(dmg.Changes, c)
		if c.What == "cut" || c.What == "rewritten" {
			dmg.Ceremonies = appendCeremonies(dmg.Ceremonies, filepath.Join(src, strings.TrimPrefix(c.File, "jetstream"+string(filepath.Separator))), c.FirstOff)
		}
	}
	if healable && !dmg.Missing && len(dmg.Lost) == 0 && len(dmg.Gaps) == 0 && checkErr == nil {
		return nil
	}
	return dmg
}

// trialResult is what the trial start saw of the stream.
type trialResult struct {
	lost, gaps []uint64
}

// trialOpen starts the embedded server on trial's directory, looks the
// stream up (never creates it), runs check on it and shuts down. A nil
// result means the stream is not there.
func trialOpen(ctx context.Context, trial Config, check func(context.Context, *Store) error) (*trialResult, error, error) {
	opts, err := trial.serverOptions()
	if err != nil {
		return nil, nil, err
	}
	s := &Store{name: trial.streamName(), sync: trial.Sync, connClosed: make(chan struct{}), unlock: func() error { return nil }}
	if s.srv, err = startServer(opts, ""); err != nil {
		return nil, nil, fmt.Errorf("jetstream: check the store's files: the server did not start on a copy of them: %w", err)
	}
	if s.nc, err = nats.Connect("", append([]nats.Option{nats.InProcessServer(s.srv)}, s.connOptions()...)...); err != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		return nil, nil, fmt.Errorf("jetstream: check the store's files: connect: %w", err)
	}
	defer s.Close()
	if s.js, err = natsjs.New(s.nc); err != nil {
		return nil, nil, fmt.Errorf("jetstream: check the store's files: %w", err)
	}
	s.stream, err = s.js.Stream(ctx, s.name)
	if errors.Is(err, natsjs.ErrStreamNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("jetstream: check the store's files: look up stream %s: %w", s.name, err)
	}
	info, err := s.stream.Info(ctx, natsjs.WithDeletedDetails(true))
	if err != nil {
		return nil, nil, fmt.Errorf("jetstream: check the store's files: stream %s: %w", s.name, err)
	}
	r := &trialResult{}
	for _, seq := range info.State.Deleted {
		if seq >= info.State.FirstSeq && seq <= info.State.LastSeq && seq != 0 {
			r.gaps = append(r.gaps, seq)
		}
	}
	if raw, err := rawLost(ctx, s.nc, s.name); err == nil {
		r.lost = raw
	}
	if len(r.lost) > 0 || len(r.gaps) > 0 {
		return r, nil, nil // damaged already; reading on could wait for what is gone
	}
	if r.gaps, err = s.scanGaps(ctx, info.State.LastSeq); err != nil {
		return r, err, nil
	}
	if len(r.gaps) > 0 || check == nil {
		return r, nil, nil
	}
	cctx, cancel := context.WithTimeout(ctx, scanTimeout)
	defer cancel()
	return r, check(cctx, s), nil
}

// scanTimeout bounds each read of the stream on the copy.
const scanTimeout = 10 * time.Second

// scanGaps reads the stream up to last and returns the sequences the
// server does not deliver: a record that fails its checksum is skipped by
// the server when read, without a word. An ordered reader would wait for
// a skipped last record, so the last readable sequence is found first
// (GetMsg backwards from last), and the reader goes up to it.
func (s *Store) scanGaps(ctx context.Context, last uint64) ([]uint64, error) {
	sctx, cancel := context.WithTimeout(ctx, scanTimeout)
	defer cancel()
	top := last
	for ; top > 0; top-- {
		_, err := s.stream.GetMsg(sctx, top)
		if err == nil {
			break
		}
		if sctx.Err() != nil {
			return nil, s.scanTimedOut(top, last)
		}
	}
	var gaps []uint64
	want := uint64(1)
	if top > 0 {
		cfg := natsjs.OrderedConsumerConfig{DeliverPolicy: natsjs.DeliverByStartSequencePolicy, OptStartSeq: 1}
		err := s.read(sctx, cfg, top, func(r events.Record, _ uint64) error {
			for ; want < r.Seq; want++ {
				gaps = append(gaps, want)
			}
			want = r.Seq + 1
			return nil
		})
		if sctx.Err() != nil {
			return nil, s.scanTimedOut(want, last)
		}
		if err != nil {
			return nil, fmt.Errorf("reading the stream on a copy of the files: %w", err)
		}
	}
	for ; want <= last; want++ {
		gaps = append(gaps, want)
	}
	return gaps, nil
}

func (s *Store) scanTimedOut(at, last uint64) error {
	return fmt.Errorf("reading the stream on a copy of the files did not finish within %s (at sequence %d of %d): the disk is too slow or the files are damaged", scanTimeout, at, last)
}

// rawLost reads the stream state's "lost" field, which nats.go's
// StreamState does not carry.
func rawLost(ctx context.Context, nc *nats.Conn, stream string) ([]uint64, error) {
	msg, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.INFO."+stream, nil)
	if err != nil {
		return nil, err
	}
	var resp struct {
		State struct {
			Lost *struct {
				Msgs []uint64 `json:"msgs"`
			} `json:"lost"`
		} `json:"state"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, err
	}
	if resp.State.Lost == nil {
		return nil, nil
	}
	return resp.State.Lost.Msgs, nil
}

// removeLeftovers removes the copies a killed process left in dataDir.
func removeLeftovers(dataDir string) error {
	old, err := filepath.Glob(filepath.Join(dataDir, checkDirPrefix+"*"))
	if err != nil {
		return err
	}
	for _, d := range old {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("jetstream: remove the leftover check copy %s: %w", d, err)
		}
	}
	return nil
}

// makeCheckCopy copies the store directory src into a new directory in
// dataDir (the same disk as the store), or in the system's temporary
// directory when that disk is full.
func makeCheckCopy(dataDir, src string) (string, error) {
	tmp, err := copyStore(dataDir, src)
	if err == nil {
		return tmp, nil
	}
	if !errors.Is(err, syscall.ENOSPC) {
		return "", err
	}
	tmp, err2 := copyStore(os.TempDir(), src)
	if err2 != nil {
		return "", fmt.Errorf("jetstream: no room to check the store's files: the disk holding %s is full (%v), and so is %s (%v): free space, then run the command again", dataDir, err, os.TempDir(), err2)
	}
	return tmp, nil
}

func copyStore(parent, src string) (string, error) {
	tmp, err := os.MkdirTemp(parent, checkDirPrefix)
	if err != nil {
		return "", fmt.Errorf("jetstream: make a copy of the store's files to check them: %w", err)
	}
	dst := filepath.Join(tmp, "jetstream")
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		if rel == "store.lock" {
			return nil
		}
		return copyOne(p, filepath.Join(dst, rel))
	})
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("jetstream: copy the store's files to %s to check them: %w", parent, err)
	}
	return tmp, nil
}

func copyOne(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// fileSum is a file's size and SHA-256.
type fileSum struct {
	size int64
	sum  [32]byte
}

// inStream reports whether a store file (jetstream/jetstream/ACCOUNT/
// streams/STREAM/...) belongs to the event stream.
func inStream(file, stream string) bool {
	parts := strings.Split(filepath.ToSlash(file), "/")
	return len(parts) > 5 && parts[3] == "streams" && parts[4] == stream
}

// digestDir hashes every file under dir but the lock's holder file.
func digestDir(dir string) (map[string]fileSum, error) {
	out := map[string]fileSum{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "store.lock" {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return err
		}
		var sum fileSum
		sum.size = n
		copy(sum.sum[:], h.Sum(nil))
		out[rel] = sum
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("jetstream: read the store's files under %s: %w", dir, err)
	}
	return out, nil
}

// compareDigests says what changed from a (under dirA) to b (under dirB).
func compareDigests(a, b map[string]fileSum, dirA, dirB string) []FileChange {
	var out []FileChange
	for rel, x := range a {
		y, ok := b[rel]
		switch {
		case !ok:
			out = append(out, FileChange{File: rel, What: "removed", OldSize: x.size})
		case x != y:
			off := firstDiff(filepath.Join(dirA, rel), filepath.Join(dirB, rel))
			what := "rewritten"
			if y.size < x.size && off == y.size {
				what = "cut"
			}
			out = append(out, FileChange{File: rel, What: what, OldSize: x.size, NewSize: y.size, FirstOff: off})
		}
	}
	for rel, y := range b {
		if _, ok := a[rel]; !ok {
			out = append(out, FileChange{File: rel, What: "added", NewSize: y.size})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out
}

// firstDiff returns the offset of the first byte that differs between two
// files (the shorter one's length when one is a prefix of the other).
func firstDiff(a, b string) int64 {
	x, _ := os.ReadFile(a)
	y, _ := os.ReadFile(b)
	n := min(len(x), len(y))
	for i := 0; i < n; i++ {
		if x[i] != y[i] {
			return int64(i)
		}
	}
	return int64(n)
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
