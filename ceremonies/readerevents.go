package ceremonies

import (
	"context"
	"errors"
	"sync"

	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// ReaderWatch collects what the card reader's adapter sees while a step
// waits for a card: the reader or the PC/SC service going away and coming
// back. The shared card steps and the Driver record what it collected as
// card.reader_event (ARCHITECTURE.md, "Ceremony semantics"), so a loss
// leaves an audit trace, not only a repeated step. Safe for concurrent
// use; a nil *ReaderWatch notes nothing.
type ReaderWatch struct {
	mu      sync.Mutex
	pending []events.ReaderEvent
	away    string // "", events.ReaderLost or events.ServiceLost
}

// Away notes that the reader (events.ReaderLost) or the PC/SC service
// (events.ServiceLost) went away; a loss already noted is not noted again.
func (w *ReaderWatch) Away(what, reader, detail string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.away != "" {
		return
	}
	w.away = what
	w.pending = append(w.pending, events.ReaderEvent{What: what, Reader: reader, Detail: detail})
}

// Back notes that what went away is there again (nothing when nothing
// was away).
func (w *ReaderWatch) Back(reader string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	what := events.ReaderBack
	switch w.away {
	case "":
		return
	case events.ServiceLost:
		what = events.ServiceBack
	}
	w.away = ""
	w.pending = append(w.pending, events.ReaderEvent{What: what, Reader: reader})
}

// take returns and forgets what was noted.
func (w *ReaderWatch) take() []events.ReaderEvent {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pending
	w.pending = nil
	return p
}

// recordReaderEvents records what the station's watch noted. A phase that
// takes no card step event (the ceremony ended meanwhile) drops them.
func recordReaderEvents(ctx context.Context, inst *engine.Instance, st *Station) error {
	for _, e := range st.Watch.take() {
		err := inst.Record(ctx, events.SourceReader, &e)
		if errors.Is(err, engine.ErrUndeclared) || errors.Is(err, engine.ErrEnded) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// recordLoss records a card step that ended because the card, the reader
// or the PC/SC service went away (err is ErrCardRemoved or one of its
// causes), after what the watch noted before.
func recordLoss(ctx context.Context, inst *engine.Instance, st *Station, err error) error {
	what := events.CardPulled
	switch {
	case errors.Is(err, ErrServiceGone):
		what = events.ServiceLost
	case errors.Is(err, ErrReaderGone):
		what = events.ReaderLost
	}
	reader := ""
	if st.Reader != nil {
		reader = st.Reader.Name()
	}
	if what == events.CardPulled {
		if rerr := recordReaderEvents(ctx, inst, st); rerr != nil {
			return rerr
		}
		rerr := inst.Record(ctx, events.SourceReader, &events.ReaderEvent{What: what, Reader: reader, Detail: err.Error()})
		if errors.Is(rerr, engine.ErrUndeclared) || errors.Is(rerr, engine.ErrEnded) {
			return nil
		}
		return rerr
	}
	if st.Watch == nil {
		st.Watch = &ReaderWatch{}
	}
	st.Watch.Away(what, reader, err.Error())
	return recordReaderEvents(ctx, inst, st)
}
