package pcsc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ebfe/scard"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/pcsc/pcscdtest"
	"github.com/ceremony-hsm/ceremony/adapters/vpcd"
)

// eventWait bounds the wait for each expected event (liveness, not speed).
const eventWait = 10 * time.Second

// watchRun is one Watch running in a goroutine, its events in a channel.
type watchRun struct {
	name   string
	events chan Event
	done   chan error
	cancel context.CancelFunc
}

// startWatch runs Watch until the test ends or stop; fn may replace the
// event collector's verdict (nil: collect and go on).
func startWatch(t *testing.T, name string, verdict func(Event) error) *watchRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watchRun{name: name, events: make(chan Event, 64), done: make(chan error, 1), cancel: cancel}
	go func() {
		w.done <- Watch(ctx, func(e Event) error {
			select {
			case w.events <- e:
			case <-ctx.Done():
			}
			if verdict != nil {
				return verdict(e)
			}
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
		case <-time.After(eventWait):
			t.Errorf("%s: Watch did not return within %v of the end of its context", name, eventWait)
		}
	})
	return w
}

// stop cancels the watch and checks that Watch returns nil promptly.
func (w *watchRun) stop(t *testing.T) {
	t.Helper()
	start := time.Now()
	w.cancel()
	select {
	case err := <-w.done:
		w.done <- err // for the cleanup
		t.Logf("%s: Watch returned %v after the end of its context", w.name, time.Since(start).Round(time.Millisecond))
		if err != nil {
			t.Fatalf("%s: Watch returned %v after its context ended, want nil", w.name, err)
		}
	case <-time.After(eventWait):
		t.Fatalf("%s: Watch did not return within %v of the end of its context", w.name, eventWait)
	}
}

// want is an expected event: its kind and reader.
type want struct {
	kind   EventKind
	reader string
}

func (w want) String() string { return fmt.Sprintf("%v on %q", w.kind, w.reader) }

// expect takes the next len(wants) events, in any order, and fails on an
// event that is not wanted (or wanted fewer times). It returns the events
// in the order they came.
func (w *watchRun) expect(t *testing.T, wants ...want) []Event {
	t.Helper()
	left := slices.Clone(wants)
	var got []Event
	timer := time.NewTimer(eventWait)
	defer timer.Stop()
	for len(left) > 0 {
		select {
		case e := <-w.events:
			got = append(got, e)
			i := slices.Index(left, want{e.Kind, e.Reader})
			if i < 0 {
				t.Fatalf("%s: unexpected event %v on %q (err %v); still waiting for %v; got so far %v", w.name, e.Kind, e.Reader, e.Err, left, kinds(got))
			}
			if e.Time.IsZero() {
				t.Errorf("%s: event %v without a time", w.name, e.Kind)
			}
			left = slices.Delete(left, i, i+1)
		case err := <-w.done:
			t.Fatalf("%s: Watch returned %v while waiting for %v", w.name, err, left)
		case <-timer.C:
			t.Fatalf("%s: no %v within %v; got %v", w.name, left, eventWait, kinds(got))
		}
	}
	return got
}

func kinds(es []Event) []string {
	var out []string
	for _, e := range es {
		out = append(out, want{e.Kind, e.Reader}.String())
	}
	return out
}

// checkCard checks a CardInserted event against the emulated card.
func checkCard(t *testing.T, e Event, c *cardemu.Card) {
	t.Helper()
	if e.Kind != CardInserted {
		t.Fatalf("event %v, want %v", e.Kind, CardInserted)
	}
	if e.Err != nil {
		t.Errorf("CardInserted on %q: Err %v", e.Reader, e.Err)
	}
	if !bytes.Equal(e.ATR, c.ATR()) {
		t.Errorf("CardInserted on %q: ATR % X, want % X", e.Reader, e.ATR, c.ATR())
	}
	if e.Serial != c.Serial() {
		t.Errorf("CardInserted on %q: serial %q, want %q", e.Reader, e.Serial, c.Serial())
	}
}

func find(es []Event, k EventKind, reader string) int {
	return slices.IndexFunc(es, func(e Event) bool { return e.Kind == k && e.Reader == reader })
}

// waitEmpty waits until pcscd lists the readers without a card (a card
// pulled by an earlier test or run takes pcscd a moment to notice).
func waitEmpty(t *testing.T, readers ...string) {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for {
		rs, err := Readers()
		empty := err == nil
		for _, name := range readers {
			i := slices.IndexFunc(rs, func(r ReaderStatus) bool { return r.Name == name })
			empty = empty && i >= 0 && !rs[i].Present
		}
		if empty {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("readers %q not listed empty within %v: %+v, %v", readers, eventWait, rs, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func newCard(t *testing.T, serial uint32) *cardemu.Card {
	t.Helper()
	c, err := cardemu.Create(filepath.Join(t.TempDir(), fmt.Sprintf("card%d.img", serial)), cardemu.Options{Serial: serial})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func insert(t *testing.T, addr string, c *cardemu.Card) *vpcd.Inserted {
	t.Helper()
	in, err := vpcd.Insert(t.Context(), addr, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Remove() })
	return in
}

// TestWatch runs Watch against a private pcscd with two vpcd readers (one
// daemon per process: pcsc-lite reads PCSCLITE_CSOCK_NAME once): cards in
// and out, the state at start, pcscd killed and restarted, fn's error, the
// end of the context.
func TestWatch(t *testing.T) {
	d := testDaemon(t)
	r0, r1 := pcscdtest.ReaderName(0), pcscdtest.ReaderName(1)
	waitEmpty(t, r0, r1)
	cardA, cardB := newCard(t, 0x1001), newCard(t, 0x1002)

	w1 := startWatch(t, "watch 1", nil)

	// A card in reader 0, then out.
	inA := insert(t, d.VpcdAddr(0), cardA)
	checkCard(t, w1.expect(t, want{CardInserted, r0})[0], cardA)
	inA.Remove()
	w1.expect(t, want{CardRemoved, r0})

	// A card in reader 1.
	inB := insert(t, d.VpcdAddr(1), cardB)
	checkCard(t, w1.expect(t, want{CardInserted, r1})[0], cardB)

	// A second watch sees the card already present; it stops promptly.
	w2 := startWatch(t, "watch 2", nil)
	checkCard(t, w2.expect(t, want{CardInserted, r1})[0], cardB)
	w2.stop(t)

	// pcscd killed: each reader lost once, because pcscd is gone.
	d.Kill()
	for _, e := range w1.expect(t, want{ReaderLost, r0}, want{ReaderLost, r1}) {
		if !errors.Is(e.Err, ErrNoService) {
			t.Errorf("ReaderLost on %q: Err %v, want one wrapping ErrNoService", e.Reader, e.Err)
		}
	}
	select {
	case <-inB.Done():
	case <-time.After(eventWait):
		t.Fatalf("the card in reader 1 is still inserted %v after pcscd was killed", eventWait)
	}

	// A watch started while pcscd is gone knows no reader: it reports
	// pcscd itself lost.
	w3 := startWatch(t, "watch 3", nil)
	if e := w3.expect(t, want{ReaderLost, ""})[0]; !errors.Is(e.Err, ErrNoService) {
		t.Errorf("ReaderLost of pcscd: Err %v, want one wrapping ErrNoService", e.Err)
	}

	// pcscd back, the card put in again: the readers are back, then the card.
	d.Restart(t)
	insert(t, d.VpcdAddr(1), cardB)
	got := w1.expect(t, want{ReaderBack, r0}, want{ReaderBack, r1}, want{CardInserted, r1})
	back, in := find(got, ReaderBack, r1), find(got, CardInserted, r1)
	if back > in {
		t.Errorf("CardInserted came before ReaderBack on %q: %v", r1, kinds(got))
	}
	checkCard(t, got[in], cardB)
	got = w3.expect(t, want{ReaderBack, ""}, want{CardInserted, r1})
	if got[0].Kind != ReaderBack {
		t.Errorf("watch 3: CardInserted before pcscd was back: %v", kinds(got))
	}
	checkCard(t, got[find(got, CardInserted, r1)], cardB)
	w3.stop(t)

	// fn's error ends Watch with that error.
	errStop := errors.New("stop watching")
	w4 := startWatch(t, "watch 4", func(Event) error { return errStop })
	w4.expect(t, want{CardInserted, r1})
	select {
	case err := <-w4.done:
		w4.done <- err
		if !errors.Is(err, errStop) {
			t.Errorf("Watch returned %v, want fn's error %v", err, errStop)
		}
	case <-time.After(eventWait):
		t.Fatalf("Watch did not return within %v after fn failed", eventWait)
	}

	// A context that has ended already: Watch returns nil.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Watch(ctx, func(e Event) error { t.Errorf("event %v after the end of the context", e.Kind); return nil }); err != nil {
		t.Errorf("Watch with an ended context: %v, want nil", err)
	}

	w1.stop(t)
	select {
	case e := <-w1.events:
		t.Errorf("watch 1: unexpected event %v on %q", e.Kind, e.Reader)
	default:
	}
}

func TestCardEvents(t *testing.T) {
	const (
		empty   = scard.StateEmpty
		present = scard.StatePresent
		inuse   = scard.StatePresent | scard.StateInuse
		mute    = scard.StatePresent | scard.StateMute
		gone    = scard.StateUnknown
		unavail = scard.StateUnavailable | scard.StatePresent
	)
	count := func(n uint32, s scard.StateFlag) scard.StateFlag { return s | scard.StateFlag(n<<16) }
	cases := []struct {
		name     string
		was, now scard.StateFlag
		want     []EventKind
	}{
		{"nothing known, empty", scard.StateUnaware, empty, nil},
		{"nothing known, card in", scard.StateUnaware, present, []EventKind{CardInserted}},
		{"nothing known, mute card in", scard.StateUnaware, mute, []EventKind{CardInserted}},
		{"inserted", count(2, empty), count(3, present), []EventKind{CardInserted}},
		{"removed", count(3, present), count(4, empty), []EventKind{CardRemoved}},
		{"still empty", count(4, empty), count(4, empty), nil},
		{"someone connected", count(3, present), count(3, inuse), nil},
		{"someone disconnected", count(3, inuse), count(3, present), nil},
		{"swapped between two looks", count(3, present), count(5, present), []EventKind{CardRemoved, CardInserted}},
		{"in and out between two looks", count(2, empty), count(4, empty), nil},
		{"reader unknown", count(3, present), gone, []EventKind{CardRemoved}},
		{"reader unavailable", count(3, present), unavail, []EventKind{CardRemoved}},
	}
	for _, tc := range cases {
		if got := cardEvents(tc.was, tc.now); !slices.Equal(got, tc.want) {
			t.Errorf("%s: cardEvents(%#x, %#x) = %v, want %v", tc.name, tc.was, tc.now, got, tc.want)
		}
	}
	for s, want := range map[scard.StateFlag]bool{empty: false, present: false, gone: true, unavail: true, scard.StateUnaware: false} {
		if got := unavailable(s); got != want {
			t.Errorf("unavailable(%#x) = %v, want %v", s, got, want)
		}
	}
	for k, want := range map[EventKind]string{CardInserted: "card inserted", CardRemoved: "card removed", ReaderLost: "reader lost", ReaderBack: "reader back", 9: "EventKind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("EventKind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}
