package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// apiStream sends a ceremony's events as server-sent events, each with
// its stream sequence as id: a browser that reconnects sends
// Last-Event-ID and gets what it missed, then the new ones. The PIN pad's
// display goes as "pad" events (no id: it is a view, not a stored fact).
func (s *Server) apiStream(w http.ResponseWriter, r *http.Request, _ Actor) *apiError {
	id := r.PathValue("id")
	if _, err := s.cfg.Backend.Ceremony(id); err != nil {
		return backendError(err)
	}
	var after uint64
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("after")
	}
	if last != "" {
		n, err := strconv.ParseUint(last, 10, 64)
		if err != nil {
			return &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf("Last-Event-ID %q: give a stream sequence", last)}
		}
		after = n
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		return &apiError{http.StatusInternalServerError, "internal", "this connection cannot stream"}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fl.Flush()

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	evs := make(chan Event, 64)
	done := make(chan error, 1)
	go func() {
		done <- s.cfg.Backend.Watch(ctx, id, after, func(e Event) error {
			select {
			case evs <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	var padCh <-chan struct{}
	sendPad := func() {}
	if pad, _, ok := s.cfg.Backend.Live(id); ok {
		ch, unsub := pad.Subscribe()
		defer unsub()
		padCh = ch
		sendPad = func() {
			b, _ := json.Marshal(pad.View())
			fmt.Fprintf(w, "event: pad\ndata: %s\n\n", b)
			fl.Flush()
		}
		sendPad()
	}
	for {
		select {
		case e := <-evs:
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "id: %d\nevent: event\ndata: %s\n\n", e.Seq, b)
			fl.Flush()
		case <-padCh:
			sendPad()
		case err := <-done:
			if err != nil && ctx.Err() == nil {
				s.cfg.Log.Printf("web: stream of %s ended: %v", id, err)
			}
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}
