package pcsc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ebfe/scard"
)

// EventKind says what Watch saw happen in a reader.
type EventKind int

// The kinds of Event.
const (
	// CardInserted: a card is in the reader now (also reported for the
	// cards already present when Watch starts, and after ReaderBack).
	CardInserted EventKind = iota + 1
	// CardRemoved: the card left the reader.
	CardRemoved
	// ReaderLost: the reader, or pcscd itself, is gone. Whatever card was
	// in the reader is forgotten: no CardRemoved follows.
	ReaderLost
	// ReaderBack: a lost reader (or pcscd) is there again. CardInserted
	// follows for a card that is in it.
	ReaderBack
)

func (k EventKind) String() string {
	switch k {
	case CardInserted:
		return "card inserted"
	case CardRemoved:
		return "card removed"
	case ReaderLost:
		return "reader lost"
	case ReaderBack:
		return "reader back"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one observation of a reader.
type Event struct {
	Kind EventKind
	// Reader is the reader's PC/SC name. It is "" only for the ReaderLost
	// and ReaderBack of pcscd itself while no reader is known (pcscd was
	// not reachable when Watch started, or had no readers when it went).
	Reader string
	ATR    []byte // CardInserted: the card's answer to reset
	// Serial is, for CardInserted, the OpenPGP card's manufacturer and
	// serial number as openpgp.AID.SerialString gives them (e.g.
	// "FFFE00000001"); "" if the card is not an OpenPGP card or could not
	// be read (then Err says why).
	Serial string
	// Err is, for ReaderLost, why: it wraps ErrNoService (pcscd is gone)
	// or ErrReaderGone (this reader is gone). For CardInserted it is set
	// when the serial could not be read (e.g. ErrHeld: another process
	// holds the card exclusively); a card that answers the SELECT of the
	// OpenPGP application with an error is simply not an OpenPGP card
	// (Serial "", Err nil).
	Err  error
	Time time.Time // when Watch saw it
}

// Watch timing.
const (
	// watchRescan bounds one GetStatusChange: readers that appear are
	// found (ListReaders) at least this often.
	watchRescan = time.Second
	// watchCancelRetry: once ctx has ended, the blocked GetStatusChange
	// is cancelled again this often until Watch has returned.
	watchCancelRetry = 20 * time.Millisecond
	// watchReconnect is the pause between attempts to reach pcscd while
	// it is gone.
	watchReconnect = 500 * time.Millisecond
	// watchHeldTimeout bounds the serial read of a card another process
	// holds (a ceremony's step): the event then carries ErrHeld.
	watchHeldTimeout = 3 * time.Second
)

// Watch watches every reader pcscd has (and readers that appear later,
// polling ListReaders) with GetStatusChange, calls fn for each change, and
// returns when ctx ends (nil) or fn returns an error (that error).
// While pcscd is gone it emits ReaderLost once per reader, keeps trying to
// reconnect every 500 ms, and emits ReaderBack (then CardInserted for
// cards present) when it is back.
//
// Behaviour in detail:
//
//   - At start Watch emits CardInserted for each card already present.
//     A reader that appears later emits nothing itself, only CardInserted
//     for its card; ReaderBack is only for a reader that was lost.
//   - Watch has its own PC/SC context. It blocks in GetStatusChange for
//     at most a second, then lists the readers again. When ctx ends,
//     another goroutine cancels the blocked call (SCardCancel, repeated
//     every 20 ms until Watch has returned, as pcsc-lite ignores a Cancel
//     that comes between two calls), so Watch returns within a few tens
//     of milliseconds, or after the serial read or fn call under way.
//   - A reader is lost when pcscd no longer lists it or reports it
//     unknown or unavailable (Err wraps ErrReaderGone), or when pcscd is
//     gone (Err wraps ErrNoService: every known reader is lost, or, if no
//     reader is known, one ReaderLost with Reader ""). A lost reader is
//     reported once, and ReaderBack when it is listed and available again.
//   - For CardInserted Watch reads the serial with Probe, over a short
//     shared connection of its own: one transaction with SELECT of the
//     OpenPGP application and GET DATA 4F and C4, then disconnect leaving
//     the card as it is. A card another process holds is given up after
//     3 s (Err wraps ErrHeld), and the read ends at once with ctx. The
//     SELECT changes the card's selected application; clients sharing the
//     card SELECT before their commands anyway (see openpgp.Client.Select).
//     A card pulled and put back between two observations (pcsc-lite's
//     event counter moved while the card stayed present) gives
//     CardRemoved then CardInserted.
//   - fn runs on Watch's goroutine, one event at a time; while it runs
//     Watch does not observe, and afterwards reports the net change.
//   - Nothing is logged; APDUs and responses never leave this function.
func Watch(ctx context.Context, fn func(Event) error) error {
	w := &watcher{ctx: ctx, fn: fn, readers: map[string]*watched{}}
	exited := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { w.cancelUntil(exited) })
	defer stop()
	defer w.release()
	defer close(exited)
	for ctx.Err() == nil {
		if err := w.step(); err != nil {
			return err
		}
	}
	return nil
}

// watched is what Watch knows of one reader.
type watched struct {
	// state is the last event state seen (without StateChanged), passed
	// as the current state to the next GetStatusChange. StateUnaware
	// means nothing is known: the next call reports the state as it is.
	state scard.StateFlag
	lost  bool
}

type watcher struct {
	ctx     context.Context
	fn      func(Event) error
	readers map[string]*watched
	// serviceLost: a ReaderLost with Reader "" was emitted.
	serviceLost bool

	mu sync.Mutex // guards sc against the Cancel from ctx's AfterFunc
	sc *scard.Context
}

// cancelUntil makes a blocked GetStatusChange return (ErrCancelled), and
// again every watchCancelRetry until exited is closed: pcsc-lite drops a
// Cancel that comes while no GetStatusChange is running, and the watch
// may be just about to start one.
func (w *watcher) cancelUntil(exited <-chan struct{}) {
	t := time.NewTicker(watchCancelRetry)
	defer t.Stop()
	for {
		w.mu.Lock()
		if w.sc != nil {
			w.sc.Cancel()
		}
		w.mu.Unlock()
		select {
		case <-exited:
			return
		case <-t.C:
		}
	}
}

func (w *watcher) release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sc != nil {
		w.sc.Release()
		w.sc = nil
	}
}

func (w *watcher) emit(e Event) error {
	e.Time = time.Now()
	return w.fn(e)
}

// sleep waits d or until ctx ends.
func (w *watcher) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.ctx.Done():
	case <-t.C:
	}
}

// step observes once: it (re)connects to pcscd, lists the readers, waits
// for a change (at most watchRescan) and emits the events. It returns only
// fn's errors; PC/SC failures become events.
func (w *watcher) step() error {
	if w.sc == nil {
		sc, err := scard.EstablishContext()
		if err != nil {
			return w.serviceDown(wrap("connect to pcscd", "", err))
		}
		w.mu.Lock()
		w.sc = sc
		w.mu.Unlock()
	}
	names, err := w.sc.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		names, err = nil, nil
	}
	if err != nil {
		return w.serviceDown(wrap("list the readers", "", err))
	}
	if w.serviceLost {
		w.serviceLost = false
		if err := w.emit(Event{Kind: ReaderBack}); err != nil {
			return err
		}
	}
	if err := w.unlisted(names); err != nil {
		return err
	}
	if len(names) == 0 {
		w.sleep(watchRescan) // GetStatusChange returns at once on no readers
		return nil
	}
	rs := make([]scard.ReaderState, len(names))
	for i, n := range names {
		r := w.readers[n]
		if r == nil {
			r = &watched{}
			w.readers[n] = r
		}
		rs[i] = scard.ReaderState{Reader: n, CurrentState: r.state}
	}
	err = w.sc.GetStatusChange(rs, watchRescan)
	switch {
	case err == nil:
	case errors.Is(err, scard.ErrTimeout), errors.Is(err, scard.ErrCancelled):
		return nil
	default:
		return w.serviceDown(wrap("wait for a reader change", "", err))
	}
	for _, st := range rs {
		if err := w.update(st); err != nil {
			return err
		}
	}
	return nil
}

// unlisted marks the known readers pcscd no longer lists as lost.
func (w *watcher) unlisted(names []string) error {
	for _, n := range w.sortedReaders() {
		r := w.readers[n]
		if r.lost || slices.Contains(names, n) {
			continue
		}
		r.lost, r.state = true, scard.StateUnaware
		err := &Error{Op: "watch the reader", Reader: n, Code: scard.ErrUnknownReader, Err: ErrReaderGone}
		if err := w.emit(Event{Kind: ReaderLost, Reader: n, Err: err}); err != nil {
			return err
		}
	}
	return nil
}

// update emits the events of one reader's new state.
func (w *watcher) update(st scard.ReaderState) error {
	r := w.readers[st.Reader]
	now := st.EventState &^ scard.StateChanged
	was := r.state
	r.state = now
	if unavailable(now) {
		if r.lost {
			return nil
		}
		r.lost = true
		err := &Error{Op: "watch the reader", Reader: st.Reader, Code: scard.ErrReaderUnavailable, Err: ErrReaderGone}
		return w.emit(Event{Kind: ReaderLost, Reader: st.Reader, Err: err})
	}
	if r.lost {
		r.lost = false
		was = scard.StateUnaware
		if err := w.emit(Event{Kind: ReaderBack, Reader: st.Reader}); err != nil {
			return err
		}
	}
	for _, k := range cardEvents(was, now) {
		e := Event{Kind: k, Reader: st.Reader}
		if k == CardInserted {
			e.ATR = slices.Clone(st.Atr)
			e.Serial, e.Err = w.readSerial(st.Reader)
		}
		if err := w.emit(e); err != nil {
			return err
		}
	}
	return nil
}

// serviceDown handles pcscd being unreachable: it drops the context, loses
// every reader not lost yet (or pcscd itself, if no reader is known), and
// pauses before the next attempt.
func (w *watcher) serviceDown(err error) error {
	if !errors.Is(err, ErrNoService) && !errors.Is(err, ErrReaderGone) {
		err = fmt.Errorf("%w: %w", ErrNoService, err)
	}
	w.release()
	if len(w.readers) == 0 {
		if !w.serviceLost {
			w.serviceLost = true
			if err := w.emit(Event{Kind: ReaderLost, Err: err}); err != nil {
				return err
			}
		}
	}
	for _, n := range w.sortedReaders() {
		r := w.readers[n]
		if r.lost {
			r.state = scard.StateUnaware
			continue
		}
		r.lost, r.state = true, scard.StateUnaware
		if err := w.emit(Event{Kind: ReaderLost, Reader: n, Err: err}); err != nil {
			return err
		}
	}
	w.sleep(watchReconnect)
	return nil
}

func (w *watcher) sortedReaders() []string {
	names := make([]string, 0, len(w.readers))
	for n := range w.readers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// unavailable reports whether a reader state means the reader is gone.
func unavailable(s scard.StateFlag) bool {
	return s&(scard.StateUnknown|scard.StateUnavailable) != 0
}

// present reports whether a reader state has a card in it (a mute card
// too: it is there, even if it does not answer).
func present(s scard.StateFlag) bool {
	return s&scard.StatePresent != 0 && !unavailable(s)
}

// eventCount is pcsc-lite's count of card insertions and removals in the
// reader, kept in the upper 16 bits of the event state.
func eventCount(s scard.StateFlag) uint32 { return uint32(s) >> 16 }

// cardEvents returns the card events of a reader going from state was
// (StateUnaware: nothing known, as at start or after ReaderBack) to now.
func cardEvents(was, now scard.StateFlag) []EventKind {
	wasIn, nowIn := present(was), present(now)
	switch {
	case !wasIn && nowIn:
		return []EventKind{CardInserted}
	case wasIn && !nowIn:
		return []EventKind{CardRemoved}
	case wasIn && nowIn && eventCount(was) != eventCount(now):
		return []EventKind{CardRemoved, CardInserted}
	}
	return nil
}

// readSerial reads the OpenPGP serial of the card in reader with Probe
// (its own shared connection, one transaction), giving up after
// watchHeldTimeout when another process holds the card (ErrHeld) and at
// once when the watch ends. A card that answers SELECT with an error
// status is not an OpenPGP card: "", nil.
func (w *watcher) readSerial(reader string) (string, error) {
	info, err := Probe(w.ctx, reader, watchHeldTimeout)
	return info.Serial, err
}

// cardTransport carries the serial read's APDUs on an open connection.
type cardTransport struct {
	card   *scard.Card
	reader string
}

func (t cardTransport) Transmit(cmd []byte) ([]byte, error) {
	resp, err := t.card.Transmit(cmd)
	if err != nil {
		return nil, wrap("transmit", t.reader, err)
	}
	return resp, nil
}
