package engine_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/ceremony-hsm/ceremony/engine"
)

func TestLeases(t *testing.T) {
	store := openStore(t, t.TempDir())
	l := newEngine(t, store, nil).Leases()

	type op struct {
		do       string // "acquire", "release", "release-all"
		resource string
		cer      string
		wantErr  bool
	}
	steps := []op{
		{"acquire", "reader:Virtual PCD 00 00", "cer-a", false},
		{"acquire", "reader:Virtual PCD 00 00", "cer-a", false}, // re-acquire
		{"acquire", "reader:Virtual PCD 00 00", "cer-b", true},  // held by cer-a
		{"acquire", "card:000500000001", "cer-a", false},
		{"acquire", "hsm:softhsm2", "cer-b", false},
		{"acquire", "hsm:softhsm2", "cer-a", true},
		{"release", "hsm:softhsm2", "cer-a", false}, // not the holder: no effect
		{"acquire", "hsm:softhsm2", "cer-a", true},
		{"release-all", "", "cer-a", false},
		{"acquire", "reader:Virtual PCD 00 00", "cer-b", false}, // free now
		{"acquire", "card:000500000001", "cer-c", false},
		{"release", "card:000500000001", "cer-c", false},
	}
	for i, s := range steps {
		var err error
		switch s.do {
		case "acquire":
			err = l.Acquire(s.resource, s.cer)
		case "release":
			l.Release(s.resource, s.cer)
		case "release-all":
			l.ReleaseAll(s.cer)
		}
		if (err != nil) != s.wantErr {
			t.Fatalf("step %d: %s %q for %s: err %v, want error %v", i+1, s.do, s.resource, s.cer, err, s.wantErr)
		}
		if err != nil && !errors.Is(err, engine.ErrLeased) {
			t.Fatalf("step %d: %v, want ErrLeased", i+1, err)
		}
	}
	want := map[string]string{"reader:Virtual PCD 00 00": "cer-b", "hsm:softhsm2": "cer-b", "card:000500000001": ""}
	for res, holder := range want {
		h, ok := l.Holder(res)
		if h != holder || ok != (holder != "") {
			t.Errorf("Holder(%q) = %q, %v; want %q", res, h, ok, holder)
		}
	}
}

func TestLeaseConflictNamesTheHolder(t *testing.T) {
	store := openStore(t, t.TempDir())
	l := newEngine(t, store, nil).Leases()
	if err := l.Acquire("card:000500000001", "bkg-20250314-01"); err != nil {
		t.Fatal(err)
	}
	err := l.Acquire("card:000500000001", "bkl-20250315-02")
	if !errors.Is(err, engine.ErrLeased) {
		t.Fatalf("Acquire of a held card: %v, want ErrLeased", err)
	}
	for _, part := range []string{"card:000500000001", "bkg-20250314-01", "finish or abort"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("message %q does not say %q", err, part)
		}
	}
}

func TestLeasesOneWinner(t *testing.T) {
	store := openStore(t, t.TempDir())
	l := newEngine(t, store, nil).Leases()
	const n = 16
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = l.Acquire("reader:shared", string(rune('a'+i)))
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else if !errors.Is(err, engine.ErrLeased) {
			t.Errorf("unexpected error %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d ceremonies got the same reader, want 1", won)
	}
}
