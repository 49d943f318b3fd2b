package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// pinBodyMax bounds the body of a PIN request, {"pin":"…"}: a PIN of 127
// bytes, each escaped, and room for whitespace.
const pinBodyMax = 512

// readPIN reads the body of a PIN request into a buffer of its own and
// returns the PIN as bytes, which the caller wipes. encoding/json is not
// used: it leaves the PIN in a string and in its decoder's buffer, which
// nobody can wipe. The body buffer is wiped before readPIN returns. No
// error text quotes the body.
func readPIN(body io.Reader) ([]byte, *apiError) {
	buf := make([]byte, pinBodyMax+1)
	defer ceremonies.Wipe(buf)
	n, err := io.ReadFull(body, buf)
	switch {
	case err == nil:
		return nil, &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf("the request body is longer than a PIN request (at most %d bytes): send {\"pin\":\"…\"} only", pinBodyMax)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
	default:
		return nil, &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf("reading the request body: %v: send the PIN again", err)}
	}
	return parsePIN(buf[:n])
}

// parsePIN takes exactly one JSON object with one member, "pin", a
// string (RFC 8259), and returns the string's value in a slice of its
// own. The only escapes taken are \" \\ and \/ (what a browser's
// JSON.stringify writes for a printable PIN); the value is decoded in
// place, so b holds the PIN afterwards too: the caller wipes b.
func parsePIN(b []byte) ([]byte, *apiError) {
	i := 0
	ws := func() {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
			i++
		}
	}
	expect := func(lit, what string) *apiError {
		ws()
		if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
			return &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf("the request body is not {\"pin\":\"…\"}: %s expected at byte %d; the PIN is the object's one member", what, i)}
		}
		i += len(lit)
		return nil
	}
	for _, e := range []struct{ lit, what string }{{"{", "{"}, {`"pin"`, `the member "pin"`}, {":", ":"}, {`"`, "the PIN as a JSON string"}} {
		if err := expect(e.lit, e.what); err != nil {
			return nil, err
		}
	}
	n := 0 // the PIN is decoded into b[start:start+n], behind the reader
	start := i
	for {
		if i == len(b) {
			return nil, &apiError{http.StatusBadRequest, "bad_request", "the request body ends inside the PIN: send {\"pin\":\"…\"} whole"}
		}
		c := b[i]
		i++
		if c == '"' {
			break
		}
		if c < 0x20 {
			return nil, &apiError{http.StatusBadRequest, "bad_pin", "the PIN has a control character: type the PIN's characters only"}
		}
		if c == '\\' {
			if i == len(b) {
				return nil, &apiError{http.StatusBadRequest, "bad_request", "the request body ends inside the PIN: send {\"pin\":\"…\"} whole"}
			}
			c = b[i]
			i++
			if c != '"' && c != '\\' && c != '/' {
				return nil, &apiError{http.StatusBadRequest, "bad_pin", fmt.Sprintf("the PIN has the escape \\%c, which this route does not take: a PIN is printable characters, sent with \\\" and \\\\ escaped only", printableOr(c))}
			}
		}
		b[start+n] = c
		n++
	}
	if err := expect("}", "} (the PIN is the object's one member)"); err != nil {
		return nil, err
	}
	ws()
	if i != len(b) {
		return nil, &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf("the request body goes on after the object at byte %d: send {\"pin\":\"…\"} only", i)}
	}
	if !utf8.Valid(b[start : start+n]) {
		return nil, &apiError{http.StatusBadRequest, "bad_pin", "the PIN is not UTF-8 text: type it again"}
	}
	pin := make([]byte, n)
	copy(pin, b[start:start+n])
	return pin, nil
}

// printableOr shows an escape's letter, or '?' for any other byte.
func printableOr(c byte) rune {
	if c > 0x20 && c < 0x7f {
		return rune(c)
	}
	return '?'
}
