// Package storetest is the acceptance suite every events.Store must pass.
//
// An implementation's test calls Run with a Factory:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, storetest.Factory{
//			Open:  func(t *testing.T, dir string) events.Store { ... },
//			Close: func(t *testing.T, s events.Store) { ... },
//		})
//	}
//
// Rules an implementation must meet (each is a subtest):
//   - Append returns increasing stream sequences; Load returns one
//     ceremony's events in order with those sequences and the exact bytes.
//   - Ceremonies keep separate orders; Replay returns the global order.
//   - A stale expectation (including 0 on a ceremony that has events) is a
//     *events.ConflictError that unwraps to events.ErrConflict, and stores
//     nothing. Of two concurrent appends with one expectation exactly one wins.
//   - Many goroutines may append to and load their own ceremonies at once.
//   - Bytes that are not a valid envelope of the given ceremony and event id
//     are refused, and nothing is stored.
//   - After Close and Open on the same directory every acknowledged event is
//     returned, in order, byte for byte.
//   - Load of an unknown ceremony is empty, without error.
//   - With Factory.Follows: Follow delivers the events from a sequence on,
//     then the ones appended after it started, in order, and returns nil
//     when its context ends.
//
// The suite builds its events with Event and Chain: valid, sealed envelopes
// with a fixed clock and a {"n":1} payload. A store does not decode payloads.
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ceremony-hsm/ceremony/events"
)

// Factory opens and closes the store under test.
type Factory struct {
	// Open returns a store on dir: an empty directory the first time, the
	// directory of a closed store when the suite tests a restart. It fails
	// the test (t.Fatal) if the store cannot be opened.
	Open func(t *testing.T, dir string) events.Store
	// Close closes s so that everything it acknowledged is found by the
	// next Open on the same directory. It fails the test on error.
	Close func(t *testing.T, s events.Store)
	// Follows says the store is an events.Follower: the suite then checks
	// that Follow delivers old and new events in order (and fails if the
	// store does not implement it).
	Follows bool
}

// Run runs every case of the suite as a subtest of t.
func Run(t *testing.T, f Factory) {
	if f.Open == nil || f.Close == nil {
		t.Fatal("storetest: Factory needs both Open and Close")
	}
	cases := []struct {
		name string
		fn   func(t *testing.T, f Factory)
	}{
		{"AppendAndLoadOneCeremony", testAppendLoad},
		{"InterleavedCeremoniesAndReplayOrder", testInterleaved},
		{"ExpectedZeroOnExistingCeremonyConflicts", testExpectedZeroConflict},
		{"StaleExpectationIsConflictError", testStaleExpectation},
		{"ConcurrentAppendsOneWins", testConcurrentAppends},
		{"ConcurrentCeremonies", testConcurrentCeremonies},
		{"BadBytesRefusedNothingStored", testBadBytes},
		{"RestartReturnsEveryAcknowledgedEvent", testRestart},
		{"ReplayFromMiddle", testReplayFromMiddle},
		{"ReplayStopsAtFirstError", testReplayStops},
		{"LoadUnknownCeremonyIsEmpty", testLoadUnknown},
	}
	if f.Follows {
		cases = append(cases, struct {
			name string
			fn   func(t *testing.T, f Factory)
		}{"FollowDeliversOldThenNewEvents", testFollow})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, f) })
	}
}

// acked is one event the store acknowledged.
type acked struct {
	seq        uint64
	ceremonyID string
	eventID    string
	data       []byte
}

// openStore opens a store on dir and closes it when the test ends, unless
// the test closed it itself (through the returned close function).
func openStore(t *testing.T, f Factory, dir string) (events.Store, func()) {
	t.Helper()
	s := f.Open(t, dir)
	var once sync.Once
	closeFn := func() { once.Do(func() { f.Close(t, s) }) }
	t.Cleanup(closeFn)
	return s, closeFn
}

// appender appends chains of events and remembers what was acknowledged.
type appender struct {
	t      *testing.T
	s      events.Store
	chains map[string]*Chain
	last   map[string]uint64
	acked  []acked
}

func newAppender(t *testing.T, s events.Store) *appender {
	return &appender{t: t, s: s, chains: map[string]*Chain{}, last: map[string]uint64{}}
}

// next appends the next event of ceremonyID with the right expectation.
func (a *appender) next(ceremonyID string) acked {
	a.t.Helper()
	c, ok := a.chains[ceremonyID]
	if !ok {
		c = NewChain(ceremonyID)
		a.chains[ceremonyID] = c
	}
	id, data := c.Next(a.t)
	seq, err := a.s.Append(a.t.Context(), ceremonyID, id, a.last[ceremonyID], data)
	if err != nil {
		a.t.Fatalf("Append(%s, %s, expected %d): %v", ceremonyID, id, a.last[ceremonyID], err)
	}
	if n := len(a.acked); n > 0 && seq <= a.acked[n-1].seq {
		a.t.Fatalf("Append(%s, %s) = sequence %d, not after the previous acknowledged %d", ceremonyID, id, seq, a.acked[n-1].seq)
	}
	a.last[ceremonyID] = seq
	ev := acked{seq: seq, ceremonyID: ceremonyID, eventID: id, data: data}
	a.acked = append(a.acked, ev)
	return ev
}

// of returns the acknowledged events of one ceremony, in order.
func (a *appender) of(ceremonyID string) []acked {
	var out []acked
	for _, ev := range a.acked {
		if ev.ceremonyID == ceremonyID {
			out = append(out, ev)
		}
	}
	return out
}

// checkRecords compares records with what was acknowledged.
func checkRecords(t *testing.T, what string, got []events.Record, want []acked) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i, r := range got {
		w := want[i]
		if r.Seq != w.seq {
			t.Errorf("%s: record %d has sequence %d, want %d", what, i, r.Seq, w.seq)
		}
		if !bytes.Equal(r.Data, w.data) {
			t.Errorf("%s: record %d (sequence %d): stored bytes differ from the appended bytes\n got: %s\nwant: %s", what, i, r.Seq, r.Data, w.data)
		}
		if r.ID != w.eventID || r.CeremonyID != w.ceremonyID {
			t.Errorf("%s: record %d is event %s of ceremony %s, want %s of %s", what, i, r.ID, r.CeremonyID, w.eventID, w.ceremonyID)
		}
	}
}

// checkLoad loads one ceremony and compares it with what was acknowledged,
// including positions 1, 2, 3… and the hash chain.
func checkLoad(t *testing.T, s events.Store, ceremonyID string, want []acked) {
	t.Helper()
	recs, err := s.Load(t.Context(), ceremonyID)
	if err != nil {
		t.Fatalf("Load(%s): %v", ceremonyID, err)
	}
	checkRecords(t, "Load("+ceremonyID+")", recs, want)
	envs := make([]events.Envelope, len(recs))
	for i, r := range recs {
		envs[i] = r.Envelope
	}
	if err := events.VerifyChain(envs); err != nil {
		t.Errorf("Load(%s): %v", ceremonyID, err)
	}
}

// replayAll collects every record with sequence >= from.
func replayAll(t *testing.T, s events.Store, from uint64) []events.Record {
	t.Helper()
	var got []events.Record
	err := s.Replay(t.Context(), from, func(r events.Record) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Replay(from %d): %v", from, err)
	}
	return got
}

func testAppendLoad(t *testing.T, f Factory) {
	s, _ := openStore(t, f, t.TempDir())
	a := newAppender(t, s)
	for range 5 {
		a.next("cer-one")
	}
	checkLoad(t, s, "cer-one", a.acked)
	recs, err := s.Load(t.Context(), "cer-one")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for i, r := range recs {
		if r.Position != uint64(i+1) {
			t.Errorf("record %d has position %d, want %d", i, r.Position, i+1)
		}
	}
}

func testInterleaved(t *testing.T, f Factory) {
	s, _ := openStore(t, f, t.TempDir())
	a := newAppender(t, s)
	for _, id := range []string{"cer-a", "cer-b", "cer-a", "cer-a", "cer-b", "cer-a", "cer-b", "cer-b"} {
		a.next(id)
	}
	checkLoad(t, s, "cer-a", a.of("cer-a"))
	checkLoad(t, s, "cer-b", a.of("cer-b"))
	checkRecords(t, "Replay(from 0)", replayAll(t, s, 0), a.acked)
	checkRecords(t, "Replay(from 1)", replayAll(t, s, 1), a.acked)
}

func testExpectedZeroConflict(t *testing.T, f Factory) {
	s, _ := openStore(t, f, t.TempDir())
	a := newAppender(t, s)
	a.next("cer-zero")
	data, _ := Event(t, "cer-zero", "cer-zero-other", 1, "")
	_, err := s.Append(t.Context(), "cer-zero", "cer-zero-other", 0, data)
	if !errors.Is(err, events.ErrConflict) {
		t.Fatalf("Append with expected 0 on a ceremony with events: err = %v, want a conflict", err)
	}
	checkLoad(t, s, "cer-zero", a.acked)
}

func testStaleExpectation(t *testing.T, f Factory) {
	s, _ := openStore(t, f, t.TempDir())
	a := newAppender(t, s)
	first := a.next("cer-stale")
	second := a.next("cer-stale")
	for _, expected := range []uint64{first.seq, second.seq + 100} {
		data, _ := Event(t, "cer-stale", fmt.Sprintf("stale-%d", expected), 3, "")
		_, err := s.Append(t.Context(), "cer-stale", fmt.Sprintf("stale-%d", expected), expected, data)
		if !errors.Is(err, events.ErrConflict) {
			t.Fatalf("Append with expected %d (last is %d): err = %v, want errors.Is ErrConflict", expected, second.seq, err)
		}
		var ce *events.ConflictError
		if !errors.As(err, &ce) {
			t.Fatalf("Append with expected %d: err = %v (%T), want a *events.ConflictError", expected, err, err)
		}
		if ce.CeremonyID != "cer-stale" || ce.Expected != expected {
			t.Errorf("ConflictError = {%s %d}, want {cer-stale %d}", ce.CeremonyID, ce.Expected, expected)
		}
	}
	checkLoad(t, s, "cer-stale", a.acked)
}

func testConcurrentAppends(t *testing.T, f Factory) {
	const rounds = 50
	s, _ := openStore(t, f, t.TempDir())
	const cid = "cer-race"
	var (
		last   uint64
		prev   string
		winner []acked
	)
	bothRefused := 0
	for round := 0; round < rounds; round++ {
		pos := uint64(round + 1)
		type try struct {
			id   string
			data []byte
			hash string
			seq  uint64
			err  error
		}
		tries := make([]try, 2)
		for i := range tries {
			tries[i].id = fmt.Sprintf("race-%d-%d-%d", round, bothRefused, i)
			tries[i].data, tries[i].hash = Event(t, cid, tries[i].id, pos, prev)
		}
		start := make(chan struct{})
		ctx := t.Context()
		var wg sync.WaitGroup
		for i := range tries {
			wg.Go(func() {
				<-start
				tries[i].seq, tries[i].err = s.Append(ctx, cid, tries[i].id, last, tries[i].data)
			})
		}
		close(start)
		wg.Wait()
		won := -1
		for i, tr := range tries {
			switch {
			case tr.err == nil && won >= 0:
				t.Fatalf("round %d: both appends with expected %d succeeded (sequences %d and %d)", round, last, tries[won].seq, tr.seq)
			case tr.err == nil:
				won = i
			case !errors.Is(tr.err, events.ErrConflict):
				t.Fatalf("round %d: the losing append failed with %v, want a conflict", round, tr.err)
			}
		}
		if won < 0 {
			// A replicated stream's leader may refuse both proposals of a
			// race (each sees the other in flight). That is safe only if
			// neither was stored: the callers reload and decide again.
			recs, err := s.Load(ctx, cid)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != len(winner) {
				t.Fatalf("round %d: both appends with expected %d were refused (%v; %v), yet the ceremony holds %d events, not %d: a stored event was reported as a conflict",
					round, last, tries[0].err, tries[1].err, len(recs), len(winner))
			}
			if bothRefused++; bothRefused > 5 {
				t.Fatalf("round %d: both appends refused in %d rounds: no progress", round, bothRefused)
			}
			round-- // the same round again, as the callers would
			continue
		}
		w := tries[won]
		winner = append(winner, acked{seq: w.seq, ceremonyID: cid, eventID: w.id, data: w.data})
		last, prev = w.seq, w.hash
	}
	checkLoad(t, s, cid, winner)
}

func testConcurrentCeremonies(t *testing.T, f Factory) {
	const goroutines, perCeremony = 8, 15
	s, _ := openStore(t, f, t.TempDir())
	ctx := t.Context()
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		// Built here: t.Fatal must not be called from another goroutine.
		cid := fmt.Sprintf("cer-par-%d", g)
		c := NewChain(cid)
		ids, datas := make([]string, perCeremony), make([][]byte, perCeremony)
		for i := range perCeremony {
			ids[i], datas[i] = c.Next(t)
		}
		wg.Go(func() {
			var last uint64
			var stored [][]byte
			for i := range perCeremony {
				id, data := ids[i], datas[i]
				seq, err := s.Append(ctx, cid, id, last, data)
				if err != nil {
					errs <- fmt.Errorf("Append(%s, %s): %w", cid, id, err)
					return
				}
				last, stored = seq, append(stored, data)
				recs, err := s.Load(ctx, cid)
				if err != nil {
					errs <- fmt.Errorf("Load(%s): %w", cid, err)
					return
				}
				if len(recs) != len(stored) || recs[len(recs)-1].Seq != seq || !bytes.Equal(recs[len(recs)-1].Data, data) {
					errs <- fmt.Errorf("Load(%s) after %d appends: %d records, last not the event just appended", cid, len(stored), len(recs))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := replayAll(t, s, 0); len(got) != goroutines*perCeremony {
		t.Errorf("Replay: %d records, want %d", len(got), goroutines*perCeremony)
	}
}

func testBadBytes(t *testing.T, f Factory) {
	s, _ := openStore(t, f, t.TempDir())
	good, _ := Event(t, "cer-bad", "bad-1", 1, "")
	tampered := bytes.Replace(good, []byte(`{"n":1}`), []byte(`{"n":2}`), 1)
	if bytes.Equal(tampered, good) {
		t.Fatal("test setup: the payload was not found in the encoded event")
	}
	cases := []struct {
		name       string
		ceremonyID string
		eventID    string
		data       []byte
	}{
		{"not JSON", "cer-bad", "bad-1", []byte("not an event")},
		{"empty", "cer-bad", "bad-1", nil},
		{"not an envelope", "cer-bad", "bad-1", []byte(`{"n":1}`)},
		{"hash does not match the content", "cer-bad", "bad-1", tampered},
		{"ceremony id differs from the envelope", "cer-other", "bad-1", good},
		{"event id differs from the envelope", "cer-bad", "bad-2", good},
	}
	for _, c := range cases {
		_, err := s.Append(t.Context(), c.ceremonyID, c.eventID, 0, c.data)
		if err == nil {
			t.Errorf("%s: Append accepted it", c.name)
			continue
		}
		if errors.Is(err, events.ErrConflict) {
			t.Errorf("%s: Append refused it as a conflict (%v), want a bad-event error", c.name, err)
		}
	}
	for _, id := range []string{"cer-bad", "cer-other"} {
		checkLoad(t, s, id, nil)
	}
	if got := replayAll(t, s, 0); len(got) != 0 {
		t.Errorf("Replay after refused appends: %d records, want none", len(got))
	}
}

func testRestart(t *testing.T, f Factory) {
	dir := t.TempDir()
	s, closeFirst := openStore(t, f, dir)
	a := newAppender(t, s)
	ids := []string{"cer-r1", "cer-r2", "cer-r3"}
	for i := range 30 {
		a.next(ids[(i*i+i/4)%len(ids)])
	}
	closeFirst()

	s2, _ := openStore(t, f, dir)
	for _, id := range ids {
		checkLoad(t, s2, id, a.of(id))
	}
	checkRecords(t, "Replay(from 0) after restart", replayAll(t, s2, 0), a.acked)

	// The store goes on where it stopped.
	a.s = s2
	a.next("cer-r1")
	checkLoad(t, s2, "cer-r1", a.of("cer-r1"))
}

func testReplayFromMiddle(t *testing.T, f Factory) {
	s, _ := openStore(t, f, t.TempDir())
	a := newAppender(t, s)
	for i := range 10 {
		a.next([]string{"cer-m1", "cer-m2"}[i%2])
	}
	mid := a.acked[4].seq
	checkRecords(t, fmt.Sprintf("Replay(from %d)", mid), replayAll(t, s, mid), a.acked[4:])
	last := a.acked[len(a.acked)-1].seq
	checkRecords(t, fmt.Sprintf("Replay(from %d)", last), replayAll(t, s, last), a.acked[len(a.acked)-1:])
	if got := replayAll(t, s, last+1); len(got) != 0 {
		t.Errorf("Replay(from %d) past the last sequence %d: %d records, want none", last+1, last, len(got))
	}
}

func testReplayStops(t *testing.T, f Factory) {
	s, _ := openStore(t, f, t.TempDir())
	if got := replayAll(t, s, 0); len(got) != 0 {
		t.Fatalf("Replay of an empty store: %d records, want none", len(got))
	}
	a := newAppender(t, s)
	for range 6 {
		a.next("cer-stop")
	}
	stop := errors.New("stop here")
	calls := 0
	err := s.Replay(t.Context(), 0, func(r events.Record) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Replay: err = %v, want the error returned by fn", err)
	}
	if calls != 3 {
		t.Errorf("Replay called fn %d times after it failed on call 3", calls)
	}
}

func testLoadUnknown(t *testing.T, f Factory) {
	s, _ := openStore(t, f, t.TempDir())
	checkLoad(t, s, "cer-nobody", nil)
	a := newAppender(t, s)
	a.next("cer-somebody")
	checkLoad(t, s, "cer-nobody", nil)
	// A ceremony id that is a prefix of another is its own ceremony.
	checkLoad(t, s, "cer-some", nil)
}
