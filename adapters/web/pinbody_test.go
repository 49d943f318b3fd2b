package web

import (
	"bytes"
	"strings"
	"testing"
)

// TestReadPIN: the PIN request's body is {"pin":"…"} and nothing else;
// the PIN comes out as bytes, escapes decoded; anything else is refused
// with a 400 that says what is wrong and never quotes the body.
func TestReadPIN(t *testing.T) {
	for _, tc := range []struct {
		body, pin string
	}{
		{`{"pin":"123456"}`, "123456"},
		{" {\n\t\"pin\" : \"12345678\" } \r\n", "12345678"},
		{`{"pin":"ab\"c\\d\/e"}`, `ab"c\d/e`},
		{`{"pin":"pässwört"}`, "pässwört"},
	} {
		pin, e := readPIN(strings.NewReader(tc.body))
		if e != nil {
			t.Errorf("%q: %d %s", tc.body, e.status, e.message)
			continue
		}
		if string(pin) != tc.pin {
			t.Errorf("%q: the PIN %q, want %q", tc.body, pin, tc.pin)
		}
	}
	for _, tc := range []struct {
		body, code, want string
	}{
		{``, "bad_request", "{ expected at byte 0"},
		{`["123456"]`, "bad_request", "{ expected at byte 0"},
		{`{"PIN":"123456"}`, "bad_request", `the member "pin" expected at byte 1`},
		{`{"pin":123456}`, "bad_request", "the PIN as a JSON string expected at byte 7"},
		{`{"pin":"123456","x":1}`, "bad_request", "} (the PIN is the object's one member) expected at byte 15"},
		{`{"pin":"123456","pin":"654321"}`, "bad_request", "the object's one member"},
		{`{"pin":"123456"}{}`, "bad_request", "goes on after the object at byte 16"},
		{`{"pin":"1234`, "bad_request", "ends inside the PIN"},
		{`{"pin":"1234\`, "bad_request", "ends inside the PIN"},
		{`{"pin":"12\u00334"}`, "bad_pin", `the escape \u, which this route does not take`},
		{`{"pin":"12\n34"}`, "bad_pin", `the escape \n`},
		{"{\"pin\":\"12\t3456\"}", "bad_pin", "control character"},
		{"{\"pin\":\"12\xff3456\"}", "bad_pin", "not UTF-8"},
		{`{"pin":"` + strings.Repeat("1", pinBodyMax) + `"}`, "bad_request", "longer than a PIN request (at most 512 bytes)"},
	} {
		pin, e := readPIN(strings.NewReader(tc.body))
		if e == nil {
			t.Errorf("%q: taken as %q, want refused", tc.body, pin)
			continue
		}
		if e.status != 400 || e.code != tc.code || !strings.Contains(e.message, tc.want) {
			t.Errorf("%q: %d %s %q, want 400 %s with %q", tc.body, e.status, e.code, e.message, tc.code, tc.want)
		}
		if strings.Contains(e.message, "1234") {
			t.Errorf("%q: the error quotes the body: %s", tc.body, e.message)
		}
	}
}

// TestReadPINWipesTheBody: the buffer the body is read into holds no
// PIN after readPIN, taken or refused (the reader hands readPIN's own
// buffer to a test hook).
func TestReadPINWipesTheBody(t *testing.T) {
	for _, body := range []string{`{"pin":"12345678"}`, `{"pin":"12345678","x":1}`} {
		r := &keepBuffer{r: strings.NewReader(body)}
		pin, _ := readPIN(r)
		for _, b := range r.bufs {
			if bytes.Contains(b, []byte("12345678")) {
				t.Errorf("%q: the body buffer holds the PIN after readPIN", body)
			}
		}
		if len(r.bufs) == 0 {
			t.Fatal("readPIN read nothing")
		}
		_ = pin
	}
}

// keepBuffer is a reader that keeps the buffers it filled.
type keepBuffer struct {
	r    *strings.Reader
	bufs [][]byte
}

func (k *keepBuffer) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if n > 0 {
		k.bufs = append(k.bufs, p)
	}
	return n, err
}
