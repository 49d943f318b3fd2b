package web

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReaderKeypadPrompt: while a class-3 reader collects the PIN on its
// own keypad, the pad waits for "reader": it takes no PIN (the one sent is
// wiped) and no key from a page, and says where to type.
func TestReaderKeypadPrompt(t *testing.T) {
	p := NewPad()
	done := p.OnReader("Enter PIN", "3 tries left, on the reader")
	if v := p.View(); v.Waiting != "reader" || v.Line1 != "Enter PIN" {
		t.Fatalf("the view while the reader collects the PIN: %+v", v)
	}
	pin := []byte("12345678")
	if err := p.PIN(pin, "olga"); !errors.Is(err, errOnReader) {
		t.Errorf("a PIN sent while the reader collects it: %v, want %v", err, errOnReader)
	}
	if string(pin) == "12345678" {
		t.Error("a refused PIN was not wiped")
	}
	if err := p.Press(false, "olga"); !errors.Is(err, errOnReader) || !strings.Contains(err.Error(), "reader's own keypad") {
		t.Errorf("a key pressed while the reader collects the PIN: %v", err)
	}
	done()
	if v := p.View(); v.Waiting != "" {
		t.Errorf("after the reader answered: waiting %q", v.Waiting)
	}
}

// TestLiveViewSaysTheStation: the live view of a real station has no
// emulated reader, says which reader and HSM the ceremony uses, and has
// the "enter the PIN on the reader" notice; the rehearsal station's has
// the emulated reader.
func TestLiveViewSaysTheStation(t *testing.T) {
	for _, tc := range []struct {
		st          StationInfo
		want, never []string
	}{
		{StationInfo{Reader: "REINER SCT cyberJack 00 00", HSM: "PKCS#11 module m.so, token \"t\""},
			[]string{`id="reader-pin"`, "Enter the PIN on the reader", "REINER SCT cyberJack 00 00", "token &#34;t&#34;", `data-rehearsal="false"`, "never logged or stored"},
			[]string{`id="bench"`, "Emulated reader"}},
		{StationInfo{Rehearsal: true, Reader: "emulated", HSM: "in memory"},
			[]string{`id="bench"`, "Emulated reader (rehearsal)", `data-rehearsal="true"`},
			[]string{`id="station-reader"`}},
	} {
		srv, err := New(Config{Backend: &accountsOnly{role: roleOperator, active: true}, Station: tc.st})
		if err != nil {
			t.Fatal(err)
		}
		rec := logIn(t, srv, "olga")
		rec2 := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/ceremonies/gen-1", nil)
		req.AddCookie(rec.Result().Cookies()[0])
		srv.ServeHTTP(rec2, req)
		page := rec2.Body.String()
		for _, w := range tc.want {
			if !strings.Contains(page, w) {
				t.Errorf("station %+v: the live view lacks %s", tc.st, w)
			}
		}
		for _, n := range tc.never {
			if strings.Contains(page, n) {
				t.Errorf("station %+v: the live view has %s", tc.st, n)
			}
		}
	}
}
