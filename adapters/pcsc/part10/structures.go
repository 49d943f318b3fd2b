package part10

import (
	"encoding/binary"
	"fmt"
)

// Header sizes of the two structures (pcsc-lite reader.h, without abData).
const (
	VerifyHeaderLen = 19
	ModifyHeaderLen = 24
)

// Limits on the APDU template (abData) that EncodeVerifyStructure and
// EncodeModifyStructure accept.
const (
	// MinAPDULen is CLA INS P1 P2: the CCID driver refuses a
	// PIN_VERIFY_STRUCTURE under 23 bytes and a PIN_MODIFY_STRUCTURE under
	// 28 (19+4 and 24+4).
	MinAPDULen = 4
	// MaxAPDULen is the longest short APDU: header, Lc, 255 data bytes, Le.
	MaxAPDULen = 4 + 1 + 255 + 1
)

// bmFormatString bits (reader.h; OpenSC reader-pcsc.c).
const (
	FormatUnitsBytes    byte = 0x80 // b7: positions and sizes in bytes (else bits)
	FormatRightJustify  byte = 0x04 // b2: PIN right-justified in its block
	FormatBitsBinary    byte = 0x00 // b1–0 = 00
	FormatBitsBCD       byte = 0x01 // b1–0 = 01
	FormatBitsASCII     byte = 0x02 // b1–0 = 10
	formatPositionShift      = 3    // b6–3: PIN position after Lc, in the units of b7
)

// bEntryValidationCondition bits.
const (
	ValidateMaxSizeReached byte = 0x01
	ValidateKeyPressed     byte = 0x02
	ValidateTimeout        byte = 0x04
)

// bConfirmPIN bits (PIN_MODIFY_STRUCTURE).
const (
	ConfirmNewPIN     byte = 0x01 // b0: enter the new PIN twice
	ConfirmCurrentPIN byte = 0x02 // b1: enter the current PIN first
)

// LangUSEnglish is wLangId 0x0409, written on the wire as 09 04.
const LangUSEnglish uint16 = 0x0409

// VerifyStructure is PIN_VERIFY_STRUCTURE field by field (reader.h), for
// callers that need full control. Multi-byte fields hold numeric values;
// EncodeVerifyStructure writes them little-endian. ulDataLength is not a
// field: it is always len(Data).
type VerifyStructure struct {
	TimerOut                 byte    // bTimerOut: seconds, 0 = reader default
	TimerOut2                byte    // bTimerOut2: seconds after the first key
	FormatString             byte    // bmFormatString
	PINBlockString           byte    // bmPINBlockString: b7–4 length-field bits, b3–0 block bytes
	PINLengthFormat          byte    // bmPINLengthFormat
	PINMaxExtraDigit         uint16  // wPINMaxExtraDigit: 0xMMmm, MM = min, mm = max
	EntryValidationCondition byte    // bEntryValidationCondition
	NumberMessage            byte    // bNumberMessage: 00 none, 01 one, FF default
	LangID                   uint16  // wLangId, e.g. LangUSEnglish
	MsgIndex                 byte    // bMsgIndex
	TeoPrologue              [3]byte // bTeoPrologue
	Data                     []byte  // abData: the APDU template
}

// ModifyStructure is PIN_MODIFY_STRUCTURE field by field (reader.h).
type ModifyStructure struct {
	TimerOut                 byte
	TimerOut2                byte
	FormatString             byte
	PINBlockString           byte
	PINLengthFormat          byte
	InsertionOffsetOld       byte // bInsertionOffsetOld
	InsertionOffsetNew       byte // bInsertionOffsetNew
	PINMaxExtraDigit         uint16
	ConfirmPIN               byte // bConfirmPIN: ConfirmNewPIN | ConfirmCurrentPIN
	EntryValidationCondition byte
	NumberMessage            byte
	LangID                   uint16
	MsgIndex1                byte
	MsgIndex2                byte
	MsgIndex3                byte
	TeoPrologue              [3]byte
	Data                     []byte
}

func checkAPDU(data []byte) error {
	if len(data) < MinAPDULen {
		return fmt.Errorf("%w: Data (APDU template) is %d bytes, need at least %d (CLA INS P1 P2)",
			ErrInvalidParams, len(data), MinAPDULen)
	}
	if len(data) > MaxAPDULen {
		return fmt.Errorf("%w: Data (APDU template) is %d bytes, more than a short APDU (%d)",
			ErrInvalidParams, len(data), MaxAPDULen)
	}
	return nil
}

// EncodeVerifyStructure writes s as PIN_VERIFY_STRUCTURE: the 19-byte
// header, ulDataLength = len(s.Data), then s.Data. It checks only the
// length of Data; the field values are written as given.
func EncodeVerifyStructure(s VerifyStructure) ([]byte, error) {
	if err := checkAPDU(s.Data); err != nil {
		return nil, err
	}
	b := make([]byte, VerifyHeaderLen+len(s.Data))
	b[0] = s.TimerOut
	b[1] = s.TimerOut2
	b[2] = s.FormatString
	b[3] = s.PINBlockString
	b[4] = s.PINLengthFormat
	binary.LittleEndian.PutUint16(b[5:7], s.PINMaxExtraDigit)
	b[7] = s.EntryValidationCondition
	b[8] = s.NumberMessage
	binary.LittleEndian.PutUint16(b[9:11], s.LangID)
	b[11] = s.MsgIndex
	copy(b[12:15], s.TeoPrologue[:])
	binary.LittleEndian.PutUint32(b[15:19], uint32(len(s.Data)))
	copy(b[VerifyHeaderLen:], s.Data)
	return b, nil
}

// EncodeModifyStructure writes s as PIN_MODIFY_STRUCTURE: the 24-byte
// header, ulDataLength = len(s.Data), then s.Data. It checks only the
// length of Data.
func EncodeModifyStructure(s ModifyStructure) ([]byte, error) {
	if err := checkAPDU(s.Data); err != nil {
		return nil, err
	}
	b := make([]byte, ModifyHeaderLen+len(s.Data))
	b[0] = s.TimerOut
	b[1] = s.TimerOut2
	b[2] = s.FormatString
	b[3] = s.PINBlockString
	b[4] = s.PINLengthFormat
	b[5] = s.InsertionOffsetOld
	b[6] = s.InsertionOffsetNew
	binary.LittleEndian.PutUint16(b[7:9], s.PINMaxExtraDigit)
	b[9] = s.ConfirmPIN
	b[10] = s.EntryValidationCondition
	b[11] = s.NumberMessage
	binary.LittleEndian.PutUint16(b[12:14], s.LangID)
	b[14] = s.MsgIndex1
	b[15] = s.MsgIndex2
	b[16] = s.MsgIndex3
	copy(b[17:20], s.TeoPrologue[:])
	binary.LittleEndian.PutUint32(b[20:24], uint32(len(s.Data)))
	copy(b[ModifyHeaderLen:], s.Data)
	return b, nil
}
