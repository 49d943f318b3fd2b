package part10

import (
	"errors"
	"strings"
	"testing"
)

func TestResponseError(t *testing.T) {
	cases := []struct {
		sw   string
		want error // nil, a sentinel, or nil with card != 0
		card uint16
		text string
	}{
		{"90 00", nil, 0, ""},
		{"64 00", ErrTimeout, 0, "SW 6400"},
		{"64 01", ErrCancelled, 0, "SW 6401"},
		{"64 02", ErrPINsDiffer, 0, "SW 6402"},
		{"64 03", ErrPINLength, 0, "SW 6403"},
		{"6B 80", ErrBadStructure, 0, "SW 6B80"},
		{"63 C2", nil, 0x63C2, "63C2"},
		{"69 82", nil, 0x6982, "6982"},
		{"69 83", nil, 0x6983, "6983"},
		{"69 85", nil, 0x6985, "6985"},
		{"64 04", nil, 0x6404, "6404"},
		{"6B 00", nil, 0x6B00, "6B00"},
		{"61 10", nil, 0x6110, "6110"},
	}
	sentinels := []error{ErrTimeout, ErrCancelled, ErrPINsDiffer, ErrPINLength, ErrBadStructure, ErrMalformed}
	for _, c := range cases {
		t.Run(c.sw, func(t *testing.T) {
			err := ResponseError(hx(t, c.sw))
			switch {
			case c.want == nil && c.card == 0:
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			case c.want != nil:
				if !errors.Is(err, c.want) {
					t.Fatalf("got %v, want %v", err, c.want)
				}
				var cs *CardStatus
				if errors.As(err, &cs) {
					t.Fatalf("reader answer also a CardStatus: %v", err)
				}
			default:
				var cs *CardStatus
				if !errors.As(err, &cs) || cs.SW != c.card {
					t.Fatalf("got %v, want *CardStatus{%04X}", err, c.card)
				}
				for _, s := range sentinels {
					if errors.Is(err, s) {
						t.Fatalf("card status %v matches %v", err, s)
					}
				}
			}
			if !strings.Contains(err.Error(), c.text) {
				t.Fatalf("%q does not contain %q", err, c.text)
			}
		})
	}
	for _, in := range []string{"", "90", "90 00 00", "00 90 00", "AA AA AA AA AA 90 00"} {
		err := ResponseError(hx(t, in))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "exactly 2") {
			t.Errorf("%q: %v", in, err)
		}
	}
}
