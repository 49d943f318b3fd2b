package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/events"
)

// testFollow: events stored before Follow started (from a sequence on)
// and after it are delivered once each, in order, byte for byte.
func testFollow(t *testing.T, f Factory) {
	s, _ := openStore(t, f, t.TempDir())
	fl, ok := s.(events.Follower)
	if !ok {
		t.Fatalf("Factory.Follows, but %T does not implement events.Follower", s)
	}
	a := newAppender(t, s)
	skipped := a.next("cer-f1")
	for range 2 {
		a.next("cer-f1")
	}
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan events.Record, 100)
	done := make(chan error, 1)
	go func() {
		done <- fl.Follow(ctx, skipped.seq+1, func(r events.Record) error { got <- r; return nil })
	}()
	for range 3 {
		a.next("cer-f2")
	}
	want := a.acked[1:]
	for i, w := range want {
		select {
		case r := <-got:
			if r.Seq != w.seq || r.CeremonyID != w.ceremonyID || !bytes.Equal(r.Data, w.data) {
				t.Fatalf("Follow delivered #%d: seq %d of %s; want seq %d of %s, same bytes", i, r.Seq, r.CeremonyID, w.seq, w.ceremonyID)
			}
		case err := <-done:
			t.Fatalf("Follow returned %v after %d of %d events", err, i, len(want))
		case <-time.After(30 * time.Second): // liveness bound, not a speed assertion
			t.Fatalf("Follow delivered %d of %d events", i, len(want))
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Follow after its context ended: %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Follow did not return after its context ended")
	}
	if len(got) > 0 {
		t.Fatalf("Follow delivered %d events more than were stored", len(got))
	}
}
