package part10

import (
	"encoding/binary"
	"fmt"
)

// LcdLayout is wLcdLayout: 0xLLCC, LL lines and CC characters per line;
// 0 means the reader has no display.
type LcdLayout uint16

// Lines returns the number of display lines.
func (l LcdLayout) Lines() int { return int(l >> 8) }

// Chars returns the number of characters per line.
func (l LcdLayout) Chars() int { return int(l & 0xFF) }

// HasDisplay reports whether the layout describes a display.
func (l LcdLayout) HasDisplay() bool { return l != 0 }

func (l LcdLayout) String() string {
	if l == 0 {
		return "no display"
	}
	return fmt.Sprintf("%d×%d", l.Lines(), l.Chars())
}

// PINProperties is PIN_PROPERTIES_STRUCTURE, the answer to the
// FeatureIFDPINProperties IOCTL.
type PINProperties struct {
	LcdLayout                LcdLayout
	EntryValidationCondition byte // bits ValidateMaxSizeReached|ValidateKeyPressed|ValidateTimeout
	TimeOut2                 byte
}

// PINPropertiesLen is sizeof(PIN_PROPERTIES_STRUCTURE).
const PINPropertiesLen = 4

// ParsePINProperties decodes the 4-byte PIN_PROPERTIES_STRUCTURE:
// wLcdLayout (little-endian), bEntryValidationCondition, bTimeOut2. Any
// other length is refused.
func ParsePINProperties(b []byte) (PINProperties, error) {
	if len(b) != PINPropertiesLen {
		return PINProperties{}, fmt.Errorf("%w: PIN properties are %d bytes, want %d (wLcdLayout, bEntryValidationCondition, bTimeOut2)",
			ErrMalformed, len(b), PINPropertiesLen)
	}
	return PINProperties{
		LcdLayout:                LcdLayout(binary.LittleEndian.Uint16(b[0:2])),
		EntryValidationCondition: b[2],
		TimeOut2:                 b[3],
	}, nil
}

// Property is a tag of the GET_TLV_PROPERTIES answer
// (reader.h PCSCv2_PART10_PROPERTY_*).
type Property byte

// Property tags.
const (
	PropertyLcdLayout                Property = 1
	PropertyEntryValidationCondition Property = 2
	PropertyTimeOut2                 Property = 3
	PropertyLcdMaxCharacters         Property = 4
	PropertyLcdMaxLines              Property = 5
	PropertyMinPINSize               Property = 6
	PropertyMaxPINSize               Property = 7
	PropertyFirmwareID               Property = 8
	PropertyPPDUSupport              Property = 9
	PropertyMaxAPDUDataSize          Property = 10
	PropertyIDVendor                 Property = 11
	PropertyIDProduct                Property = 12
)

type propertyInfo struct {
	name string
	size int // -1 = variable
}

var properties = map[Property]propertyInfo{
	PropertyLcdLayout:                {"wLcdLayout", 2},
	PropertyEntryValidationCondition: {"bEntryValidationCondition", 1},
	PropertyTimeOut2:                 {"bTimeOut2", 1},
	PropertyLcdMaxCharacters:         {"wLcdMaxCharacters", 2},
	PropertyLcdMaxLines:              {"wLcdMaxLines", 2},
	PropertyMinPINSize:               {"bMinPINSize", 1},
	PropertyMaxPINSize:               {"bMaxPINSize", 1},
	PropertyFirmwareID:               {"sFirmwareID", -1},
	PropertyPPDUSupport:              {"bPPDUSupport", 1},
	PropertyMaxAPDUDataSize:          {"dwMaxAPDUDataSize", 4},
	PropertyIDVendor:                 {"wIdVendor", 2},
	PropertyIDProduct:                {"wIdProduct", 2},
}

// String returns the reader.h field name, or "PROPERTY(0xNN)".
func (p Property) String() string {
	if i, ok := properties[p]; ok {
		return i.name
	}
	return fmt.Sprintf("PROPERTY(0x%02X)", byte(p))
}

// bPPDUSupport bits.
const (
	PPDUViaEscape   byte = 0x01 // PPDU over SCardControl(FEATURE_CCID_ESC_COMMAND)
	PPDUViaTransmit byte = 0x02 // PPDU over SCardTransmit
)

// RawProperty is a record whose tag is outside the table.
type RawProperty struct {
	Tag   byte
	Value []byte
}

// TLVProperties is the decoded answer to the FeatureGetTLVProperties IOCTL.
// A field is meaningful only when Has reports its tag: readers send a
// subset (CCID always sends layout, bTimeOut2, bPPDUSupport, VID, PID and
// max APDU size; the rest only for some readers).
type TLVProperties struct {
	LcdLayout                LcdLayout
	EntryValidationCondition byte
	TimeOut2                 byte
	LcdMaxCharacters         uint16
	LcdMaxLines              uint16
	MinPINSize               byte
	MaxPINSize               byte
	FirmwareID               []byte
	PPDUSupport              byte
	MaxAPDUDataSize          uint32
	IDVendor                 uint16
	IDProduct                uint16
	// Unknown holds records with tags outside the table, in order.
	Unknown []RawProperty

	present uint16 // bit n set: tag n was in the answer
}

// Has reports whether the reader sent tag (one of the 12 table tags).
func (p TLVProperties) Has(tag Property) bool {
	if _, ok := properties[tag]; !ok {
		return false
	}
	return p.present&(1<<tag) != 0
}

// ParseTLVProperties decodes GET_TLV_PROPERTIES records tag(1) len(1)
// value(len), values little-endian. It refuses a truncated record, a table
// tag whose length is not the table's size (sFirmwareID is variable), and
// a table tag sent twice. Records with other tags are kept in Unknown. An
// empty answer has no properties.
func ParseTLVProperties(b []byte) (TLVProperties, error) {
	var p TLVProperties
	for off := 0; off < len(b); {
		if len(b)-off < 2 {
			return TLVProperties{}, fmt.Errorf("%w: TLV properties truncated at offset %d: tag 0x%02X without a length byte",
				ErrMalformed, off, b[off])
		}
		tag, l := Property(b[off]), int(b[off+1])
		if len(b)-off-2 < l {
			return TLVProperties{}, fmt.Errorf("%w: TLV property 0x%02X at offset %d declares %d bytes, only %d remain",
				ErrMalformed, byte(tag), off, l, len(b)-off-2)
		}
		v := b[off+2 : off+2+l]
		off += 2 + l

		info, known := properties[tag]
		if !known {
			p.Unknown = append(p.Unknown, RawProperty{Tag: byte(tag), Value: append([]byte(nil), v...)})
			continue
		}
		if info.size >= 0 && l != info.size {
			return TLVProperties{}, fmt.Errorf("%w: TLV property %v (tag 0x%02X) has length %d, want %d",
				ErrMalformed, tag, byte(tag), l, info.size)
		}
		if p.present&(1<<tag) != 0 {
			return TLVProperties{}, fmt.Errorf("%w: TLV property %v (tag 0x%02X) sent twice", ErrMalformed, tag, byte(tag))
		}
		p.present |= 1 << tag

		switch tag {
		case PropertyLcdLayout:
			p.LcdLayout = LcdLayout(binary.LittleEndian.Uint16(v))
		case PropertyEntryValidationCondition:
			p.EntryValidationCondition = v[0]
		case PropertyTimeOut2:
			p.TimeOut2 = v[0]
		case PropertyLcdMaxCharacters:
			p.LcdMaxCharacters = binary.LittleEndian.Uint16(v)
		case PropertyLcdMaxLines:
			p.LcdMaxLines = binary.LittleEndian.Uint16(v)
		case PropertyMinPINSize:
			p.MinPINSize = v[0]
		case PropertyMaxPINSize:
			p.MaxPINSize = v[0]
		case PropertyFirmwareID:
			p.FirmwareID = append([]byte{}, v...)
		case PropertyPPDUSupport:
			p.PPDUSupport = v[0]
		case PropertyMaxAPDUDataSize:
			p.MaxAPDUDataSize = binary.LittleEndian.Uint32(v)
		case PropertyIDVendor:
			p.IDVendor = binary.LittleEndian.Uint16(v)
		case PropertyIDProduct:
			p.IDProduct = binary.LittleEndian.Uint16(v)
		}
	}
	return p, nil
}
