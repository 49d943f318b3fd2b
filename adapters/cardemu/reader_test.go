package cardemu

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
)

func testCard(t *testing.T, serial uint32) *Card {
	t.Helper()
	c, err := Create(filepath.Join(t.TempDir(), fmt.Sprintf("card-%d.json", serial)), Options{Serial: serial})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestReaderInsertRemove(t *testing.T) {
	r := NewReader("Virtual PCD 00 00")
	if r.Name() != "Virtual PCD 00 00" || r.Card() != nil {
		t.Fatalf("new reader: %q %v", r.Name(), r.Card())
	}
	a, b := testCard(t, 1), testCard(t, 2)

	unbound := r.Transport()
	if _, err := unbound.Transmit(apdu(t, selectCmd)); !errors.Is(err, ErrNoCard) {
		t.Fatalf("empty reader: %v, want ErrNoCard", err)
	}
	if err := r.Insert(nil); err == nil {
		t.Error("Insert(nil) succeeded")
	}
	if err := r.Insert(a); err != nil {
		t.Fatal(err)
	}
	if err := r.Insert(b); !errors.Is(err, ErrCardPresent) {
		t.Fatalf("second insert: %v, want ErrCardPresent", err)
	}
	if err := NewReader("other").Insert(a); err == nil {
		t.Fatal("a card went into two readers")
	}
	if r.Card() != a {
		t.Fatal("Card() is not the inserted card")
	}

	// The unbound transport binds to the first card it talks to.
	ca := openpgp.NewClient(unbound)
	if err := ca.Select(); err != nil {
		t.Fatal(err)
	}
	if aid, err := ca.AID(); err != nil || aid.SerialString() != "FFFE00000001" {
		t.Fatalf("AID %v %v", aid, err)
	}

	// Swap the cards: the old transport is dead, a new one works.
	r.Remove()
	r.Remove() // removing from an empty reader is a no-op
	if err := ca.Select(); !errors.Is(err, ErrCardRemoved) {
		t.Fatalf("after removal: %v, want ErrCardRemoved", err)
	}
	if err := r.Insert(b); err != nil {
		t.Fatal(err)
	}
	if err := ca.Select(); !errors.Is(err, ErrCardRemoved) {
		t.Fatalf("old transport after another card went in: %v, want ErrCardRemoved", err)
	}
	cb := openpgp.NewClient(r.Transport())
	if err := cb.Select(); err != nil {
		t.Fatal(err)
	}
	if aid, err := cb.AID(); err != nil || aid.SerialString() != "FFFE00000002" {
		t.Fatalf("AID %v %v", aid, err)
	}

	// Card a, out of its reader, may go into another one.
	if err := NewReader("other").Insert(a); err != nil {
		t.Fatalf("reinsert elsewhere: %v", err)
	}
}

func TestInsertPowersOn(t *testing.T) {
	r := NewReader("r")
	c := testCard(t, 1)
	if err := r.Insert(c); err != nil {
		t.Fatal(err)
	}
	cl := openpgp.NewClient(r.Transport())
	if err := cl.Select(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Verify(openpgp.PW3, []byte("123456")); err != nil {
		t.Fatal(err)
	}
	r.Remove()
	if err := r.Insert(c); err != nil {
		t.Fatal(err)
	}
	cl = openpgp.NewClient(r.Transport())
	if _, err := cl.PWStatus(); !errors.Is(err, openpgp.ErrConditionsNotSatisfied) {
		t.Fatalf("before SELECT after reinsertion: %v", err)
	}
	if err := cl.Select(); err != nil {
		t.Fatal(err)
	}
	if n, v, err := cl.RetriesLeft(openpgp.PW3); n != 3 || v || err != nil {
		t.Fatalf("after reinsertion: %d %v %v, want 3 false", n, v, err)
	}
}

func TestReaderWait(t *testing.T) {
	r := NewReader("r")
	c := testCard(t, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on empty reader: %v", err)
	}
	if err := r.WaitRemoved(context.Background()); err != nil {
		t.Fatalf("WaitRemoved on empty reader: %v", err)
	}

	done := make(chan *Card)
	go func() {
		got, err := r.Wait(context.Background())
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	time.Sleep(10 * time.Millisecond)
	if err := r.Insert(c); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-done:
		if got != c {
			t.Fatal("Wait returned another card")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after Insert")
	}
	if got, err := r.Wait(context.Background()); got != c || err != nil {
		t.Fatalf("Wait with a card present: %v %v", got, err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := r.WaitRemoved(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitRemoved cancelled: %v", err)
	}
	removed := make(chan error)
	go func() { removed <- r.WaitRemoved(context.Background()) }()
	time.Sleep(10 * time.Millisecond)
	r.Remove()
	select {
	case err := <-removed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitRemoved did not return after Remove")
	}
}

// TestConcurrentUse runs clients on one card from several goroutines while
// the card is pulled and reinserted; run with -race.
func TestConcurrentUse(t *testing.T) {
	r := NewReader("r")
	c := testCard(t, 1)
	if err := r.Insert(c); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				card, err := r.Wait(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				_ = card.Serial()
				cl := openpgp.NewClient(r.Transport())
				err = cl.Select()
				if err == nil {
					_, err = cl.AID()
				}
				if err == nil {
					_, _, err = cl.RetriesLeft(openpgp.PW1)
				}
				if err == nil && g == 0 {
					err = cl.Verify(openpgp.PW1, []byte("123456"))
					if err == nil {
						err = cl.WritePrivateDO(0x0101, []byte{byte(i)})
					}
				}
				if err != nil && !errors.Is(err, ErrCardRemoved) && !errors.Is(err, ErrNoCard) &&
					!errors.Is(err, openpgp.ErrConditionsNotSatisfied) && !errors.Is(err, openpgp.ErrSecurityStatus) {
					t.Errorf("goroutine %d: %v", g, err)
				}
			}
		}()
	}
	for range 10 {
		r.Remove()
		if err := r.Insert(c); err != nil {
			t.Fatal(err)
		}
		c.Reset()
	}
	wg.Wait()
	if _, err := Open(c.Path()); err != nil {
		t.Fatalf("image after concurrent use: %v", err)
	}
}
