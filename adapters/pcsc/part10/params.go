package part10

import "fmt"

// PINFormat is how the reader encodes each keypad digit into the APDU.
// The zero value is ASCII, which is what OpenPGP cards expect.
type PINFormat byte

// PIN formats.
const (
	FormatASCII  PINFormat = iota // one byte per digit, '0'–'9' (bmFormatString 0x82)
	FormatBCD                     // two digits per byte (bmFormatString 0x81)
	FormatBinary                  // one byte per digit, 0x00–0x09 (bmFormatString 0x80)
)

func (f PINFormat) String() string {
	switch f {
	case FormatASCII:
		return "ASCII"
	case FormatBCD:
		return "BCD"
	case FormatBinary:
		return "Binary"
	}
	return fmt.Sprintf("PINFormat(%d)", byte(f))
}

// formatString is bmFormatString: units in bytes, PIN at position 0 after
// Lc, left-justified, and the format bits.
func (f PINFormat) formatString() byte {
	switch f {
	case FormatBCD:
		return FormatUnitsBytes | FormatBitsBCD
	case FormatBinary:
		return FormatUnitsBytes | FormatBitsBinary
	}
	return FormatUnitsBytes | FormatBitsASCII
}

// blockLen is the size in bytes of a block holding digits PIN digits.
func (f PINFormat) blockLen(digits byte) byte {
	if f == FormatBCD {
		return (digits + 1) / 2
	}
	return digits
}

// Parameter limits enforced by EncodeVerify and EncodeModify.
const (
	// MaxFixedLen: bmPINBlockString holds the block size in 4 bits, and
	// GnuPG refuses fixedlen >= 16 for the same reason.
	MaxFixedLen = 15
	// MaxPINLen: an OpenPGP card's PW status bytes give a PIN's maximum
	// length in 7 bits. (15 is only GnuPG's default when neither card nor
	// reader says more; readers report more, e.g. Cherry ST-2000 25.)
	MaxPINLen = 127
)

// OpenPGP card password references (P2 of VERIFY and CHANGE REFERENCE
// DATA).
const (
	PW1Sign  byte = 0x81 // PW1 for PSO:CDS; the reference CHANGE REFERENCE DATA uses for PW1
	PW1Other byte = 0x82 // PW1 for decipher and authenticate; VERIFY only
	PW3Admin byte = 0x83 // PW3, the admin PIN
)

// ISO 7816-4 instructions the templates carry.
const (
	InsVerify              byte = 0x20
	InsChangeReferenceData byte = 0x24
)

// VerifyParams describes a keypad VERIFY of an OpenPGP card password.
//
// Validation rules (each failure names the field):
//   - PINRef is 0x81, 0x82 or 0x83.
//   - 1 <= MinLen <= MaxLen <= MaxPINLen (127). There are no zero
//     defaults: GnuPG's 1/15 must be asked for explicitly. Clamp to the
//     reader's bMinPINSize/bMaxPINSize (ParseTLVProperties) before calling.
//   - FixedLen is 0 (variable length) or MinLen <= FixedLen <= MaxLen and
//     FixedLen <= MaxFixedLen (15).
//   - OmitLc only with FixedLen 0.
//   - Format is one of the three PINFormat constants.
type VerifyParams struct {
	TimeoutSec byte // bTimerOut; 0 = the reader's default
	MinLen     byte // fewest digits the keypad accepts
	MaxLen     byte // most digits the keypad accepts
	// FixedLen 0 = variable length: Lc is 00 and the reader inserts the
	// PIN and sets Lc ("adaptive" readers). Otherwise the template holds a
	// block for FixedLen digits filled with FF (ceil(FixedLen/2) bytes for
	// BCD, FixedLen bytes otherwise).
	FixedLen byte
	Format   PINFormat
	PINRef   byte // P2: PW1Sign, PW1Other or PW3Admin
	// OmitLc drops the Lc byte of a variable-length template, as GnuPG does
	// for the SCM SPR532 (its no_lc).
	OmitLc bool
}

// ModifyParams describes a keypad CHANGE REFERENCE DATA (P1 = 00): the
// reader asks for the current PIN, the new PIN and the new PIN again
// (bConfirmPIN 03). The rules are those of VerifyParams, except that
// PINRef is 0x81 or 0x83 (OpenPGP cards change PW1 through 81; 82 is not a
// CHANGE REFERENCE DATA reference). MinLen/MaxLen/FixedLen apply to both
// PINs.
type ModifyParams struct {
	TimeoutSec byte
	MinLen     byte
	MaxLen     byte
	FixedLen   byte
	Format     PINFormat
	PINRef     byte
	OmitLc     bool
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidParams}, a...)...)
}

func checkLens(minLen, maxLen, fixedLen byte, f PINFormat, omitLc bool) error {
	switch f {
	case FormatASCII, FormatBCD, FormatBinary:
	default:
		return invalid("Format %d is not FormatASCII, FormatBCD or FormatBinary", byte(f))
	}
	if minLen < 1 {
		return invalid("MinLen is 0, want at least 1")
	}
	if maxLen > MaxPINLen {
		return invalid("MaxLen %d exceeds %d", maxLen, MaxPINLen)
	}
	if minLen > maxLen {
		return invalid("MinLen %d exceeds MaxLen %d", minLen, maxLen)
	}
	if fixedLen != 0 {
		if fixedLen > MaxFixedLen {
			return invalid("FixedLen %d exceeds %d (4-bit bmPINBlockString)", fixedLen, MaxFixedLen)
		}
		if fixedLen < minLen || fixedLen > maxLen {
			return invalid("FixedLen %d is outside MinLen..MaxLen (%d..%d)", fixedLen, minLen, maxLen)
		}
		if omitLc {
			return invalid("OmitLc is only for variable length (FixedLen 0), FixedLen is %d", fixedLen)
		}
	}
	return nil
}

func validationCondition(minLen, maxLen byte) byte {
	v := ValidateKeyPressed
	if minLen == maxLen {
		v |= ValidateMaxSizeReached
	}
	return v
}

// template returns CLA INS P1 P2 [Lc] FF… with a block of n bytes.
func template(ins, p2, n byte, omitLc bool) []byte {
	d := []byte{0x00, ins, 0x00, p2}
	if omitLc {
		return d
	}
	d = append(d, n)
	for i := byte(0); i < n; i++ {
		d = append(d, 0xFF)
	}
	return d
}

// Structure validates p and returns the PIN_VERIFY_STRUCTURE fields that
// GnuPG's pcsc_pinpad_verify sends, for callers that want to adjust one
// (say LangID for a reader's built-in messages) before
// EncodeVerifyStructure.
func (p VerifyParams) Structure() (VerifyStructure, error) {
	switch p.PINRef {
	case PW1Sign, PW1Other, PW3Admin:
	default:
		return VerifyStructure{}, invalid("PINRef 0x%02X is not 0x81, 0x82 or 0x83", p.PINRef)
	}
	if err := checkLens(p.MinLen, p.MaxLen, p.FixedLen, p.Format, p.OmitLc); err != nil {
		return VerifyStructure{}, err
	}
	block := p.Format.blockLen(p.FixedLen)
	data := template(InsVerify, p.PINRef, block, p.OmitLc)
	return VerifyStructure{
		TimerOut:                 p.TimeoutSec,
		FormatString:             p.Format.formatString(),
		PINBlockString:           block,
		PINMaxExtraDigit:         uint16(p.MinLen)<<8 | uint16(p.MaxLen),
		EntryValidationCondition: validationCondition(p.MinLen, p.MaxLen),
		NumberMessage:            0x01,
		LangID:                   LangUSEnglish,
		TeoPrologue:              [3]byte{0, 0, byte(len(data))},
		Data:                     data,
	}, nil
}

// EncodeVerify returns the input for the FeatureVerifyPINDirect IOCTL: a
// PIN_VERIFY_STRUCTURE carrying VERIFY 00 20 00 PINRef, byte for byte what
// GnuPG's pcsc_pinpad_verify builds (bmFormatString 82, bNumberMessage 01,
// wLangId 0409, bEntryValidationCondition 02, or 03 when MinLen ==
// MaxLen, bTeoPrologue[2] = ulDataLength).
func EncodeVerify(p VerifyParams) ([]byte, error) {
	s, err := p.Structure()
	if err != nil {
		return nil, err
	}
	return EncodeVerifyStructure(s)
}

// Structure validates p and returns the PIN_MODIFY_STRUCTURE fields that
// GnuPG's pcsc_pinpad_modify sends for P1 = 00.
func (p ModifyParams) Structure() (ModifyStructure, error) {
	switch p.PINRef {
	case PW1Sign, PW3Admin:
	default:
		return ModifyStructure{}, invalid("PINRef 0x%02X is not 0x81 or 0x83", p.PINRef)
	}
	if err := checkLens(p.MinLen, p.MaxLen, p.FixedLen, p.Format, p.OmitLc); err != nil {
		return ModifyStructure{}, err
	}
	block := p.Format.blockLen(p.FixedLen)
	data := template(InsChangeReferenceData, p.PINRef, 2*block, p.OmitLc)
	return ModifyStructure{
		TimerOut:                 p.TimeoutSec,
		FormatString:             p.Format.formatString(),
		PINBlockString:           block,
		InsertionOffsetOld:       0,
		InsertionOffsetNew:       block,
		PINMaxExtraDigit:         uint16(p.MinLen)<<8 | uint16(p.MaxLen),
		ConfirmPIN:               ConfirmCurrentPIN | ConfirmNewPIN,
		EntryValidationCondition: validationCondition(p.MinLen, p.MaxLen),
		NumberMessage:            0x03,
		LangID:                   LangUSEnglish,
		MsgIndex1:                0x00, // enter PIN
		MsgIndex2:                0x01, // new PIN
		MsgIndex3:                0x02, // confirm new PIN
		TeoPrologue:              [3]byte{0, 0, byte(len(data))},
		Data:                     data,
	}, nil
}

// EncodeModify returns the input for the FeatureModifyPINDirect IOCTL: a
// PIN_MODIFY_STRUCTURE carrying CHANGE REFERENCE DATA 00 24 00 PINRef with
// the old and the new PIN typed on the keypad, byte for byte what GnuPG's
// pcsc_pinpad_modify builds for P1 = 00.
func EncodeModify(p ModifyParams) ([]byte, error) {
	s, err := p.Structure()
	if err != nil {
		return nil, err
	}
	return EncodeModifyStructure(s)
}
