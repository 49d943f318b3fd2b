package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/ceremonytest"
)

// liveBackend is an operator's console whose one ceremony is live on a
// web PIN pad (a pure unit test of the console's PIN path: the runner is
// the test).
type liveBackend struct {
	accountsOnly
	pad *Pad
}

func (b *liveBackend) Live(string) (*Pad, Station, bool) { return b.pad, nil, true }

// TestWebPINCopiesInProcessMemory sends a PIN through the console's
// handlers (login, then POST /api/v1/ceremonies/{id}/pin to a pad whose
// EnterPIN waits) and counts the PIN in the process's own memory before
// and after, in one scan each: the console's PIN path (the body read,
// the PIN's extraction, the pad) leaves no copy once the runner wiped
// the PIN it was handed. The request body is the test's own buffer,
// wiped after the request: net/http's connection and TLS buffers are
// not on this path (README "Secrets in memory" names them).
func TestWebPINCopiesInProcessMemory(t *testing.T) {
	pad := NewPad()
	srv, err := New(Config{Backend: &liveBackend{accountsOnly: accountsOnly{role: roleOperator, active: true}, pad: pad}})
	if err != nil {
		t.Fatal(err)
	}
	rec := logIn(t, srv, "olga")
	cookie := rec.Result().Cookies()[0]
	var login struct{ CSRF string }
	if err := json.Unmarshal(rec.Body.Bytes(), &login); err != nil {
		t.Fatal(err)
	}

	// The PIN, held masked by the test; a quote and a backslash in it
	// make the body carry escapes the handler decodes.
	masked := ceremonytest.Masked(`73\91"4682`)
	body := func() []byte {
		b := append(make([]byte, 0, 64), `{"pin":"`...) // no growth: no partial copy left behind
		for _, c := range masked {
			if c^ceremonytest.Mask == '"' || c^ceremonytest.Mask == '\\' {
				b = append(b, '\\')
			}
			b = append(b, c^ceremonytest.Mask)
		}
		return append(b, `"}`...)
	}

	// No garbage collection from here to the second scan: a copy left
	// unwiped stays where it was written, whatever its size, instead of
	// being reused or given back to the kernel (which zeroes it) by luck.
	runtime.GC()
	gc := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(gc)
	before := ceremonytest.CountInMemory(t, masked)[0]

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changed, stop := pad.Subscribe()
	defer stop()
	got := make(chan error, 1)
	go func() {
		pin, err := pad.EnterPIN(ctx, "Enter PIN", "3 tries left")
		defer ceremonies.Wipe(pin) // as the runner does after the card's VERIFY
		if err == nil && !bytes.Equal(maskedCopy(pin), masked) {
			err = errWrongPIN
		}
		got <- err
	}()
	for pad.View().Waiting != "pin" {
		<-changed
	}
	b := body()
	req := httptest.NewRequest("POST", "/api/v1/ceremonies/gen-1/pin", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(csrfHeader, login.CSRF)
	req.AddCookie(cookie)
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	ceremonies.Wipe(b)
	if rec.Code != 200 {
		t.Fatalf("the PIN: %d %s", rec.Code, rec.Body)
	}
	if err := <-got; err != nil {
		t.Fatalf("the pad's EnterPIN: %v", err)
	}

	after := ceremonytest.CountInMemory(t, masked)[0]
	t.Logf("the PIN is in memory %d times before, %d after", before, after)
	if after > before {
		t.Errorf("after a PIN sent from the web PIN pad it is in memory %d times, want at most %d (before)", after, before)
	}
}

var errWrongPIN = errors.New("the pad handed over another PIN than the one sent")

// maskedCopy is pin XOR ceremonytest.Mask, built byte by byte so that
// no unmasked copy is made.
func maskedCopy(pin []byte) []byte {
	m := make([]byte, len(pin))
	for i, c := range pin {
		m[i] = c ^ ceremonytest.Mask
	}
	return m
}
