package pkcs11hsm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
)

func TestParseURI(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want pkcs11hsm.URI
	}{
		{"label", "pkcs11:token=ceremony", pkcs11hsm.URI{Token: "ceremony"}},
		{"serial", "pkcs11:serial=b01432c851ae38d1", pkcs11hsm.URI{Serial: "b01432c851ae38d1"}},
		{"label and serial", "pkcs11:token=ceremony;serial=abc", pkcs11hsm.URI{Token: "ceremony", Serial: "abc"}},
		{"percent-encoded space", "pkcs11:token=My%20Token", pkcs11hsm.URI{Token: "My Token"}},
		{"percent-encoded separators", "pkcs11:token=a%3Bb%3Fc%26d%25", pkcs11hsm.URI{Token: "a;b?c&d%"}},
		{"utf-8", "pkcs11:token=Schl%C3%BCssel", pkcs11hsm.URI{Token: "Schlüssel"}},
		{"module-path", "pkcs11:token=ceremony?module-path=/usr/lib/softhsm/libsofthsm2.so",
			pkcs11hsm.URI{Token: "ceremony", ModulePath: "/usr/lib/softhsm/libsofthsm2.so"}},
		{"module-path percent-encoded", "pkcs11:token=c?module-path=%2Fopt%2Fmy%20hsm%2Flib.so",
			pkcs11hsm.URI{Token: "c", ModulePath: "/opt/my hsm/lib.so"}},
		{"all path attributes", "pkcs11:token=c;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;slot-id=42",
			pkcs11hsm.URI{Token: "c", Manufacturer: "SoftHSM project", Model: "SoftHSM v2", SlotID: 42, HasSlotID: true}},
		{"slot-id zero", "pkcs11:slot-id=0", pkcs11hsm.URI{HasSlotID: true}},
		{"pin-source file:", "pkcs11:token=c?pin-source=file:/run/ceremony/pin", pkcs11hsm.URI{Token: "c", PINSource: "/run/ceremony/pin"}},
		{"pin-source file:///", "pkcs11:token=c?pin-source=file:///run/pin&module-path=/m.so",
			pkcs11hsm.URI{Token: "c", PINSource: "/run/pin", ModulePath: "/m.so"}},
		{"scheme in capitals", "PKCS11:token=c", pkcs11hsm.URI{Token: "c"}},
		{"no attributes", "pkcs11:", pkcs11hsm.URI{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pkcs11hsm.ParseURI(tt.in)
			if err != nil {
				t.Fatalf("ParseURI(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseURI(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseURIRefuses(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		contains []string // the error names these
		absent   []string // and never shows these
	}{
		{"unknown path attribute", "pkcs11:token=c;object=backup", []string{"object"}, nil},
		{"unknown query attributes, sorted", "pkcs11:token=c?module-name=softhsm2&foo=1", []string{"foo, module-name"}, nil},
		{"pin-value", "pkcs11:token=c?pin-value=917253&module-path=/m.so", []string{"pin-value", "pin-source", "--pin-file", "--pin-env"}, []string{"917253"}},
		{"pin-value in the path", "pkcs11:token=c;pin-value=917253", []string{"pin-value", "pin-source"}, []string{"917253"}},
		{"pin-value, bad encoding", "pkcs11:token=c?pin-value=9%zz17", []string{"pin-value"}, []string{"9%zz17", "917"}},
		{"pin-source not a file", "pkcs11:token=c?pin-source=|/bin/echo", []string{"only file:"}, nil},
		{"pin-source naming no file", "pkcs11:token=c?pin-source=file:", []string{"names no file"}, nil},
		{"bad percent-encoding", "pkcs11:token=%zz", []string{"percent-encoding"}, nil},
		{"attribute twice", "pkcs11:token=a;token=b", []string{"token", "twice"}, nil},
		{"empty value", "pkcs11:token=;serial=1", []string{"token", "empty"}, nil},
		{"not a pair", "pkcs11:token", []string{"attribute=value"}, nil},
		{"slot-id not a number", "pkcs11:slot-id=x", []string{"slot-id", "decimal"}, nil},
		{"fragment", "pkcs11:token=c#x", []string{"fragment"}, nil},
		{"no scheme", "token=ceremony", []string{"pkcs11:"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pkcs11hsm.ParseURI(tt.in)
			if !errors.Is(err, pkcs11hsm.ErrURI) {
				t.Fatalf("ParseURI(%q) = %v, want ErrURI", tt.in, err)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q shows %q", err, s)
				}
			}
		})
	}
}
