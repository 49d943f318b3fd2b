package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/ceremony-hsm/ceremony/events"
)

// checkDirPrefix names the throw-away copies of the store files in the
// data directory (removed after each trial; a leftover of a killed
// process is removed at the next open).
const checkDirPrefix = ".store-check-"

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
	if !checkNeeded(cfg) {
		return nil
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
	if checkErr != nil && ctx.Err() != nil {
		// The deadline, not the history, stopped the check: the store is
		// not judged damaged.
		return fmt.Errorf("jetstream: the check of the store's files on a copy (they are not as an orderly shutdown left them) %w: %w; nothing was changed", unfinished(ctx), checkErr)
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

// checkNeeded reports whether Open checks the store's files on a copy
// first: the stream's directory is there and the files are not as the
// server left them at its last orderly shutdown (seal.go). A new store is
// not checked (a store that lost its whole stream directory fails the
// transparency log's check after open).
func checkNeeded(cfg Config) bool {
	if dirs, _ := filepath.Glob(filepath.Join(cfg.storeDir(), "jetstream", "*", "streams", cfg.streamName())); len(dirs) == 0 {
		return false
	}
	return !sealHolds(cfg)
}

// The check on a copy copies the stream's files, starts a server on the
// copy, which reads them, and runs Config.Check, which reads every event;
// the server then starts on the store's own files and reads them again.
// Its time grows with the stream: Open then allows checkBase plus
// checkPerMiB for each MiB of the stream's files (at 1M events, about
// 730 MiB: 2 min 56 s) if that is longer than the caller's deadline, or
// Config.CheckTimeout.
const (
	checkBase   = 30 * time.Second
	checkPerMiB = 200 * time.Millisecond
)

// ErrCheckUnfinished is wrapped by Open's error when the check of the
// store's files on a copy did not finish in the time allowed (or was
// cancelled): nothing was changed; give Config.CheckTimeout more time.
var ErrCheckUnfinished = errors.New("did not finish")

// checkTimeout is the time Open allows when the files are checked on a
// copy: Config.CheckTimeout, else checkBase plus checkPerMiB for each MiB
// of the stream's files.
func (cfg Config) checkTimeout() time.Duration {
	if cfg.CheckTimeout > 0 {
		return cfg.CheckTimeout
	}
	return checkBase + time.Duration(streamBytes(cfg)>>20)*checkPerMiB
}

// streamBytes is the size of the stream's files (0 when they cannot be
// listed: the check then fails on its own).
func streamBytes(cfg Config) int64 {
	entries, _ := streamSeal(cfg.storeDir(), cfg.streamName())
	var n int64
	for _, e := range entries {
		n += e.Size
	}
	return n
}

// openContext returns the context Open runs in: ctx, or, when the files
// are checked on a copy first, ctx without its deadline and with
// checkTimeout's: Config.CheckTimeout, else the default if it is later
// than ctx's (cancelling ctx still stops Open).
func (cfg Config) openContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if cfg.remote() || !checkNeeded(cfg) {
		return ctx, func() {}
	}
	d := cfg.checkTimeout()
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) >= d && cfg.CheckTimeout == 0 {
		return ctx, func() {}
	}
	octx, cancel := context.WithTimeoutCause(context.WithoutCancel(ctx), d, checkDeadline{d, streamBytes(cfg)})
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.Canceled) {
			cancel()
		}
	})
	return octx, func() { stop(); cancel() }
}

// checkDeadline is the cause of an Open cut off by the time allowed for
// the check of the files on a copy.
type checkDeadline struct {
	allowed time.Duration
	bytes   int64
}

func (c checkDeadline) Error() string {
	return fmt.Sprintf("%v allowed for %d MiB of the stream's files", c.allowed, c.bytes>>20)
}

// unfinished says why the check stopped: out of the time allowed, the
// caller's deadline (when it was later), or the caller cancelled.
func unfinished(ctx context.Context) error {
	var c checkDeadline
	switch {
	case errors.As(context.Cause(ctx), &c):
		return fmt.Errorf("%w in the time allowed (%v)", ErrCheckUnfinished, c)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w before the caller's deadline", ErrCheckUnfinished)
	default:
		return fmt.Errorf("%w: it was cancelled", ErrCheckUnfinished)
	}
}

// outOfCheckTime wraps err, when the time allowed for the check of the
// files (openContext) ran out, with ErrCheckUnfinished and what it allowed.
// Other errors are returned as they are.
func outOfCheckTime(ctx context.Context, cfg Config, err error) error {
	var c checkDeadline
	if errors.Is(err, ErrCheckUnfinished) || !errors.As(context.Cause(ctx), &c) {
		return err
	}
	return fmt.Errorf("jetstream: opening a store whose files are not as an orderly shutdown left them (checked on a copy first) %w: %w; nothing was changed", unfinished(ctx), err)
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
	// The check reads the history the stream holds, which grows with it:
	// scanTimeout, and a second more for every 10,000 events.
	cctx, cancel := context.WithTimeout(ctx, scanTimeout+time.Duration(info.State.LastSeq/10_000)*time.Second)
	defer cancel()
	return r, check(cctx, s), nil
}

// scanTimeout bounds each request to the server on the copy, and the
// wait for each next event of the read of the whole stream.
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
		// The read of the whole stream grows with history: it is given up
		// when no event arrives for scanTimeout, not after scanTimeout in
		// all (a 1M-event store takes longer than that on a slow disk).
		rctx, stop := context.WithCancel(ctx)
		defer stop()
		idle := time.AfterFunc(scanTimeout, stop)
		defer idle.Stop()
		cfg := natsjs.OrderedConsumerConfig{DeliverPolicy: natsjs.DeliverByStartSequencePolicy, OptStartSeq: 1}
		err := s.read(rctx, sctx, cfg, top, func(r events.Record, _ uint64) error {
			idle.Reset(scanTimeout)
			for ; want < r.Seq; want++ {
				gaps = append(gaps, want)
			}
			want = r.Seq + 1
			return nil
		})
		if rctx.Err() != nil {
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
	return fmt.Errorf("reading the stream on a copy of the files stopped: no event for %s (at sequence %d of %d): the disk is too slow or the files are damaged", scanTimeout, at, last)
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
