package jetstream

import (
	"context"
	"errors"
	"testing"

	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/storetest"
)

// TestReadCeremonyOnOneServer: on a stream of one replica a ceremony's
// read (readOnOneServer) gets exactly the ceremony's events as they were
// when it began, in order, across several pull requests (the reader's
// batch is 500) and between other ceremonies' events, and leaves no
// reader behind on the server.
func TestReadCeremonyOnOneServer(t *testing.T) {
	s, err := Open(t.Context(), Config{DataDir: t.TempDir(), Sync: SyncRelaxed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if s.replicas != 1 {
		t.Fatalf("the embedded store has %d replicas, want 1", s.replicas)
	}
	ctx := t.Context()
	long, short := storetest.NewChain("cer-long"), storetest.NewChain("cer-short")
	seqs := map[string]uint64{}
	appendTo := func(c *storetest.Chain) {
		t.Helper()
		seqs[c.CeremonyID] = appendChain(t, s, c, seqs[c.CeremonyID], 1)
	}
	const longN = 1203
	for i := range longN {
		appendTo(long)
		if i%7 == 0 {
			appendTo(short)
		}
	}
	shortN := (longN + 6) / 7

	read := func(id string, during func(n int)) []events.Record {
		t.Helper()
		var got []events.Record
		err := s.ReadCeremony(ctx, id, func(r events.Record) error {
			got = append(got, r)
			if during != nil {
				during(len(got))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("ReadCeremony(%s): %v", id, err)
		}
		return got
	}
	check := func(id string, got []events.Record, want int) {
		t.Helper()
		if len(got) != want {
			t.Fatalf("%s: %d events, want %d", id, len(got), want)
		}
		for i, r := range got {
			if r.CeremonyID != id || r.Position != uint64(i+1) || (i > 0 && r.Seq <= got[i-1].Seq) {
				t.Fatalf("%s: event %d is %s position %d at sequence %d", id, i, r.CeremonyID, r.Position, r.Seq)
			}
		}
	}
	// At its last event the reader has no request left on the server: it
	// asked for exactly the ceremony's events, so the server does not
	// look for more (on a long stream: scan on to its end).
	check("cer-long", read("cer-long", func(n int) {
		if n < longN {
			return
		}
		lister := s.stream.ListConsumers(ctx)
		for c := range lister.Info() {
			if c.NumWaiting != 0 {
				t.Errorf("at the ceremony's last event the reader %s still has %d requests waiting on the server", c.Name, c.NumWaiting)
			}
		}
		if err := lister.Err(); err != nil {
			t.Error(err) // fn may run on the read's goroutine: no t.Fatal
		}
	}), longN)
	check("cer-short", read("cer-short", nil), shortN)
	if got := read("cer-none", nil); len(got) != 0 {
		t.Fatalf("an unknown ceremony gave %d events", len(got))
	}

	// An event appended while the read runs is not part of it: the read
	// is the ceremony as it was when it began.
	got := read("cer-long", func(n int) {
		if n == 10 {
			appendTo(long)
		}
	})
	check("cer-long", got, longN)
	check("cer-long", read("cer-long", nil), longN+1)

	// fn's error stops the read and is returned as is; a panic in fn is
	// raised again on the caller's goroutine (the read decodes and calls
	// fn on a goroutine of its own, readAhead).
	errStop := errors.New("stop here")
	calls := 0
	err = s.ReadCeremony(ctx, "cer-long", func(events.Record) error {
		if calls++; calls == 600 {
			return errStop
		}
		return nil
	})
	if err != errStop || calls != 600 {
		t.Fatalf("fn failing at call 600: ReadCeremony = %v after %d calls, want %v after 600", err, calls, errStop)
	}
	func() {
		defer func() {
			if v := recover(); v != "fold broke" {
				t.Fatalf("a panic in fn: recovered %v on the caller's goroutine, want \"fold broke\"", v)
			}
		}()
		_ = s.ReadCeremony(ctx, "cer-long", func(r events.Record) error {
			if r.Position == 100 {
				panic("fold broke")
			}
			return nil
		})
	}()

	info, err := s.stream.Info(context.WithoutCancel(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Consumers != 0 {
		t.Fatalf("%d readers left on the server after the reads, want 0", info.State.Consumers)
	}
}
