package part10

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// CMIoctlGetFeatureRequest is CM_IOCTL_GET_FEATURE_REQUEST =
// SCARD_CTL_CODE(3400) as pcsc-lite defines it on Linux and macOS
// (0x42000000 + 3400). Send it with no input.
const CMIoctlGetFeatureRequest uint32 = 0x42000D48

// CMIoctlGetFeatureRequestWindows is the same request under the Windows
// definition of SCARD_CTL_CODE (0x310000 | 3400<<2). The CCID and REINER
// drivers also accept it, for RDP redirection.
const CMIoctlGetFeatureRequestWindows uint32 = 0x313520

// Feature is a tag of the CM_IOCTL_GET_FEATURE_REQUEST answer (pcsc-lite
// reader.h FEATURE_*).
type Feature byte

// Feature tags (pcsc-lite reader.h).
const (
	FeatureVerifyPINStart       Feature = 0x01
	FeatureVerifyPINFinish      Feature = 0x02
	FeatureModifyPINStart       Feature = 0x03
	FeatureModifyPINFinish      Feature = 0x04
	FeatureGetKeyPressed        Feature = 0x05
	FeatureVerifyPINDirect      Feature = 0x06
	FeatureModifyPINDirect      Feature = 0x07
	FeatureMCTReaderDirect      Feature = 0x08
	FeatureMCTUniversal         Feature = 0x09
	FeatureIFDPINProperties     Feature = 0x0A
	FeatureAbort                Feature = 0x0B
	FeatureSetSPEMessage        Feature = 0x0C
	FeatureVerifyPINDirectAppID Feature = 0x0D
	FeatureModifyPINDirectAppID Feature = 0x0E
	FeatureWriteDisplay         Feature = 0x0F
	FeatureGetKey               Feature = 0x10
	FeatureIFDDisplayProperties Feature = 0x11
	FeatureGetTLVProperties     Feature = 0x12
	FeatureCCIDEscCommand       Feature = 0x13
	FeatureExecutePACE          Feature = 0x20
)

var featureNames = map[Feature]string{
	FeatureVerifyPINStart:       "VERIFY_PIN_START",
	FeatureVerifyPINFinish:      "VERIFY_PIN_FINISH",
	FeatureModifyPINStart:       "MODIFY_PIN_START",
	FeatureModifyPINFinish:      "MODIFY_PIN_FINISH",
	FeatureGetKeyPressed:        "GET_KEY_PRESSED",
	FeatureVerifyPINDirect:      "VERIFY_PIN_DIRECT",
	FeatureModifyPINDirect:      "MODIFY_PIN_DIRECT",
	FeatureMCTReaderDirect:      "MCT_READER_DIRECT",
	FeatureMCTUniversal:         "MCT_UNIVERSAL",
	FeatureIFDPINProperties:     "IFD_PIN_PROPERTIES",
	FeatureAbort:                "ABORT",
	FeatureSetSPEMessage:        "SET_SPE_MESSAGE",
	FeatureVerifyPINDirectAppID: "VERIFY_PIN_DIRECT_APP_ID",
	FeatureModifyPINDirectAppID: "MODIFY_PIN_DIRECT_APP_ID",
	FeatureWriteDisplay:         "WRITE_DISPLAY",
	FeatureGetKey:               "GET_KEY",
	FeatureIFDDisplayProperties: "IFD_DISPLAY_PROPERTIES",
	FeatureGetTLVProperties:     "GET_TLV_PROPERTIES",
	FeatureCCIDEscCommand:       "CCID_ESC_COMMAND",
	FeatureExecutePACE:          "EXECUTE_PACE",
}

// String returns the reader.h name without the FEATURE_ prefix, or
// "FEATURE(0xNN)" for a tag outside the table.
func (f Feature) String() string {
	if n, ok := featureNames[f]; ok {
		return n
	}
	return fmt.Sprintf("FEATURE(0x%02X)", byte(f))
}

// Features is a decoded feature list: tag → IOCTL code. The zero value is
// an empty list.
type Features struct {
	codes map[Feature]uint32
}

// featureRecordLen is sizeof(PCSC_TLV_STRUCTURE): tag(1) len(1) value(4).
const featureRecordLen = 6

// ParseFeatures decodes the answer to CMIoctlGetFeatureRequest: 6-byte
// records tag(1) len(1)=4 value(4, big-endian). It refuses a length that is
// not a multiple of 6, a length byte other than 4, and a tag listed twice.
// Tags outside the table are kept. An empty answer is an empty list.
func ParseFeatures(b []byte) (Features, error) {
	if len(b)%featureRecordLen != 0 {
		return Features{}, fmt.Errorf("%w: feature list is %d bytes, not a multiple of %d (tag, len=4, 4-byte IOCTL)",
			ErrMalformed, len(b), featureRecordLen)
	}
	f := Features{codes: make(map[Feature]uint32, len(b)/featureRecordLen)}
	for i := 0; i < len(b); i += featureRecordLen {
		tag, l := Feature(b[i]), b[i+1]
		if l != 4 {
			return Features{}, fmt.Errorf("%w: feature record %d (tag 0x%02X) at offset %d has length byte %d, want 4",
				ErrMalformed, i/featureRecordLen, byte(tag), i, l)
		}
		if _, dup := f.codes[tag]; dup {
			return Features{}, fmt.Errorf("%w: feature record %d: tag 0x%02X (%v) listed twice",
				ErrMalformed, i/featureRecordLen, byte(tag), tag)
		}
		f.codes[tag] = binary.BigEndian.Uint32(b[i+2 : i+6])
	}
	return f, nil
}

// Has reports whether the reader advertised tag.
func (f Features) Has(tag Feature) bool {
	_, ok := f.codes[tag]
	return ok
}

// Control returns the IOCTL code to pass, unchanged, to SCardControl for
// tag.
func (f Features) Control(tag Feature) (uint32, bool) {
	c, ok := f.codes[tag]
	return c, ok
}

// Tags returns the advertised tags in ascending order.
func (f Features) Tags() []Feature {
	tags := make([]Feature, 0, len(f.codes))
	for t := range f.codes {
		tags = append(tags, t)
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i] < tags[j] })
	return tags
}

// Len returns the number of advertised features.
func (f Features) Len() int { return len(f.codes) }
