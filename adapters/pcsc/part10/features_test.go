package part10

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestCMIoctlGetFeatureRequest(t *testing.T) {
	if got := uint32(0x42000000 + 3400); CMIoctlGetFeatureRequest != got {
		t.Fatalf("%#x != SCARD_CTL_CODE(3400) %#x", CMIoctlGetFeatureRequest, got)
	}
	if got := uint32(0x310000 | 3400<<2); CMIoctlGetFeatureRequestWindows != got {
		t.Fatalf("%#x != Windows SCARD_CTL_CODE(3400) %#x", CMIoctlGetFeatureRequestWindows, got)
	}
}

func TestParseFeaturesCCID(t *testing.T) {
	// The CCID driver's answer for bPINSupport = 03, derived from its
	// src/ifdhandler.c and src/ccid_ifdhandler.h.
	f, err := ParseFeatures(hx(t, "06 04 42330006 07 04 42330007 0A 04 4233000A 12 04 42330012"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[Feature]uint32{
		FeatureVerifyPINDirect:  0x42330006,
		FeatureModifyPINDirect:  0x42330007,
		FeatureIFDPINProperties: 0x4233000A,
		FeatureGetTLVProperties: 0x42330012,
	}
	if f.Len() != len(want) {
		t.Fatalf("Len %d, want %d", f.Len(), len(want))
	}
	for tag, code := range want {
		if !f.Has(tag) {
			t.Errorf("Has(%v) false", tag)
		}
		if got, ok := f.Control(tag); !ok || got != code {
			t.Errorf("Control(%v) = %#x, %v; want %#x", tag, got, ok, code)
		}
	}
	for _, tag := range []Feature{FeatureMCTReaderDirect, FeatureCCIDEscCommand, FeatureExecutePACE} {
		if f.Has(tag) {
			t.Errorf("Has(%v) true", tag)
		}
		if c, ok := f.Control(tag); ok || c != 0 {
			t.Errorf("Control(%v) = %#x, %v", tag, c, ok)
		}
	}
	if got, wantTags := f.Tags(), []Feature{0x06, 0x07, 0x0A, 0x12}; !reflect.DeepEqual(got, wantTags) {
		t.Errorf("Tags %v, want %v", got, wantTags)
	}
}

func TestParseFeaturesCyberJack(t *testing.T) {
	// REINER libifd-cyberjack p10GetFeatures (ifd/ifd.cpp), with PACE.
	f, err := ParseFeatures(hx(t, "06 04 42000DB2 07 04 42000DB3 08 04 42000DB4 09 04 42000DB5 20 04 42000DCC"))
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := f.Control(FeatureVerifyPINDirect); c != 0x42000DB2 {
		t.Errorf("verify %#x", c)
	}
	if c, _ := f.Control(FeatureExecutePACE); c != 0x42000DCC {
		t.Errorf("PACE %#x", c)
	}
	if f.Has(FeatureIFDPINProperties) || f.Has(FeatureGetTLVProperties) {
		t.Error("cyberJack advertises no properties")
	}
}

func TestParseFeaturesEmptyAndUnknown(t *testing.T) {
	f, err := ParseFeatures(nil)
	if err != nil || f.Len() != 0 || f.Has(FeatureVerifyPINDirect) {
		t.Fatalf("empty: %v %v", f, err)
	}
	var zero Features
	if zero.Has(FeatureVerifyPINDirect) || zero.Len() != 0 || len(zero.Tags()) != 0 {
		t.Fatal("zero Features not empty")
	}
	f, err = ParseFeatures(hx(t, "7F 04 DEADBEEF"))
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := f.Control(0x7F); !ok || c != 0xDEADBEEF {
		t.Fatalf("unknown tag: %#x %v", c, ok)
	}
	if s := Feature(0x7F).String(); s != "FEATURE(0x7F)" {
		t.Errorf("String %q", s)
	}
	if s := FeatureVerifyPINDirect.String(); s != "VERIFY_PIN_DIRECT" {
		t.Errorf("String %q", s)
	}
}

func TestParseFeaturesMalformed(t *testing.T) {
	cases := []struct {
		name, in, msg string
	}{
		{"5 bytes", "06 04 42 33 00", "not a multiple of 6"},
		{"7 bytes", "06 04 42330006 00", "not a multiple of 6"},
		{"len byte 2", "06 02 42330006", "length byte 2, want 4"},
		{"len byte 0 second record", "06 04 42330006 07 00 42330007", "record 1 (tag 0x07)"},
		{"duplicate", "06 04 42330006 06 04 42330106", "listed twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseFeatures(hx(t, c.in))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %v, want ErrMalformed containing %q", err, c.msg)
			}
		})
	}
}
