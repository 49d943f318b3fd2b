package pcsc

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ebfe/scard"
)

func TestErrorsNameTheReaderAndMapTheCode(t *testing.T) {
	cases := []struct {
		code scard.Error
		want error
	}{
		{scard.ErrNoService, ErrNoService},
		{scard.ErrServiceStopped, ErrNoService},
		{scard.ErrReaderUnavailable, ErrReaderGone},
		{scard.ErrUnknownReader, ErrReaderGone},
		{scard.ErrNoSmartcard, ErrNoCard},
		{scard.ErrRemovedCard, ErrNoCard},
		{scard.ErrResetCard, ErrNoCard},
		{scard.ErrSharingViolation, ErrSharing},
		{scard.ErrTimeout, ErrTimeout},
		{scard.ErrCancelled, ErrCancelled},
	}
	for _, tc := range cases {
		err := wrap("transmit", "Virtual PCD 00 00", tc.code)
		var pe *Error
		if !errors.Is(err, tc.want) || !errors.As(err, &pe) || pe.Code != tc.code {
			t.Errorf("%v: got %v, want %v", tc.code, err, tc.want)
		}
		if !strings.Contains(err.Error(), `"Virtual PCD 00 00"`) || !strings.Contains(err.Error(), "transmit") {
			t.Errorf("%v: the message does not name the reader and the operation: %v", tc.code, err)
		}
	}
	other := wrap("transmit", "r", scard.ErrInvalidAtr)
	if !strings.Contains(other.Error(), fmt.Sprintf("%#08x", uint32(scard.ErrInvalidAtr))) {
		t.Errorf("an unmapped code does not show the code: %v", other)
	}
	s := NewSlot("r")
	if !s.Gone(wrap("x", "r", scard.ErrRemovedCard)) || s.Gone(wrap("x", "r", scard.ErrSharingViolation)) {
		t.Error("Gone misclassifies")
	}
}
