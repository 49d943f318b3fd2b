package pkcs11hsm

import (
	"errors"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/ceremony-hsm/ceremony/ceremonies"
)

func TestTranslate(t *testing.T) {
	tests := []struct {
		rv     uint
		is     []error
		advice string
	}{
		{pkcs11.CKR_PIN_INCORRECT, []error{ErrWrongPIN, ceremonies.ErrWrongPIN}, "counts failed logins; check the PIN source"},
		{pkcs11.CKR_PIN_LOCKED, []error{ErrPINLocked, ceremonies.ErrPINBlocked}, "SO PIN"},
		{pkcs11.CKR_PIN_LEN_RANGE, []error{ErrPINLength}, "PIN only"},
		{pkcs11.CKR_TOKEN_NOT_PRESENT, []error{ErrTokenNotFound}, "insert it again"},
		{pkcs11.CKR_DEVICE_REMOVED, []error{ErrTokenNotFound}, "insert it again"},
		{pkcs11.CKR_USER_NOT_LOGGED_IN, []error{ErrNotLoggedIn}, "close and open the HSM again"},
		{pkcs11.CKR_SESSION_HANDLE_INVALID, []error{ErrNotLoggedIn}, "close and open the HSM again"},
		{pkcs11.CKR_DEVICE_ERROR, []error{ErrDevice}, "check the HSM"},
		{pkcs11.CKR_DEVICE_MEMORY, []error{ErrDevice}, "check the HSM"},
		{pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED, []error{ErrModule}, "open it again"},
		{pkcs11.CKR_KEY_SIZE_RANGE, nil, ""},
	}
	for _, tt := range tests {
		rv := pkcs11.Error(tt.rv)
		t.Run(rv.Error(), func(t *testing.T) {
			err := translate("do something", rv)
			if !errors.Is(err, rv) {
				t.Errorf("%v lost the PKCS#11 return value", err)
			}
			if !strings.HasPrefix(err.Error(), "do something: ") {
				t.Errorf("%v does not say what failed", err)
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("%v is not %v", err, target)
				}
			}
			if !strings.Contains(err.Error(), tt.advice) {
				t.Errorf("%v does not say %q", err, tt.advice)
			}
		})
	}
	if translate("x", nil) != nil {
		t.Error("translate(nil) is not nil")
	}
}
