package openpgp

import (
	"errors"
	"strings"
	"testing"
)

func TestStatusError(t *testing.T) {
	tests := []struct {
		sw       uint16
		sentinel error // nil: expect nil error or *SWError
		swError  bool
		tries    int // for 63Cx
		contains string
	}{
		{0x9000, nil, false, 0, ""},
		{0x63C2, ErrWrongPIN, false, 2, "2 tries left"},
		{0x63C1, ErrWrongPIN, false, 1, "1 try left"},
		{0x63C0, ErrPINBlocked, false, 0, "no tries left"},
		{0x6982, ErrSecurityStatus, false, 0, "verify the required PIN first"},
		{0x6983, ErrPINBlocked, false, 0, "the PIN is blocked; the card cannot be used for this slot until it is reset"},
		{0x6A82, ErrNotFound, false, 0, "not found"},
		{0x6A88, ErrNotFound, false, 0, "not found"},
		{0x6700, ErrWrongLength, false, 0, "wrong length"},
		{0x6A80, ErrBadData, false, 0, "incorrect data"},
		{0x6581, ErrMemoryFailure, false, 0, "memory failure"},
		{0x6285, ErrTerminated, false, 0, "terminated"},
		{0x6985, ErrConditionsNotSatisfied, false, 0, "conditions of use"},
		{0x6D00, ErrUnsupported, false, 0, "instruction not supported"},
		{0x6E00, ErrUnsupported, false, 0, "class not supported"},
		{0x6B00, ErrUnsupported, false, 0, "P1/P2"},
		{0x6F00, nil, true, 0, "unexpected SW 6F00"},
		{0x6110, nil, true, 0, "unexpected SW 6110"},
		{0x6A86, nil, true, 0, "unexpected SW 6A86"},
	}
	for _, tt := range tests {
		t.Run(swHex(tt.sw), func(t *testing.T) {
			err := StatusError(tt.sw, "GET DATA 0104")
			if tt.sentinel == nil && !tt.swError {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("got nil error")
			}
			msg := err.Error()
			if !strings.Contains(msg, "GET DATA 0104") {
				t.Errorf("message %q lacks the operation", msg)
			}
			if !strings.Contains(msg, swHex(tt.sw)) {
				t.Errorf("message %q lacks the SW %s", msg, swHex(tt.sw))
			}
			if !strings.Contains(msg, tt.contains) {
				t.Errorf("message %q lacks %q", msg, tt.contains)
			}
			if tt.swError {
				var swErr *SWError
				if !errors.As(err, &swErr) || swErr.SW != tt.sw || swErr.Op != "GET DATA 0104" {
					t.Errorf("got %#v, want *SWError", err)
				}
				return
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("errors.Is(%v, %v) is false", err, tt.sentinel)
			}
			var ce *CardError
			if !errors.As(err, &ce) || ce.SW != tt.sw || ce.Op != "GET DATA 0104" {
				t.Errorf("got %#v, want *CardError", err)
			}
			if tt.sw&0xFFF0 == 0x63C0 {
				var wp *WrongPINError
				if !errors.As(err, &wp) || wp.TriesLeft != tt.tries {
					t.Errorf("got %#v, want *WrongPINError with %d tries", err, tt.tries)
				}
				if !errors.Is(err, ErrWrongPIN) {
					t.Errorf("63Cx is not ErrWrongPIN")
				}
				if got := errors.Is(err, ErrPINBlocked); got != (tt.tries == 0) {
					t.Errorf("errors.Is(ErrPINBlocked) = %v with %d tries", got, tt.tries)
				}
			}
		})
	}
}

func TestWrongPINErrorNamesRef(t *testing.T) {
	err := statusError(0x63C2, "VERIFY PW3", PW3)
	want := "openpgp: VERIFY PW3: card answered SW 63C2: wrong PIN for PW3: 2 tries left"
	if err.Error() != want {
		t.Errorf("got  %q\nwant %q", err.Error(), want)
	}
}

func hex(n uint16) byte { return "0123456789ABCDEF"[n&0xF] }

func swHex(sw uint16) string {
	return string([]byte{hex(sw >> 12), hex(sw >> 8), hex(sw >> 4), hex(sw)})
}
