package part10

import (
	"encoding/binary"
	"fmt"
)

// DecodeVerifyStructure is the reader's side of EncodeVerifyStructure: it
// reads a PIN_VERIFY_STRUCTURE as a class-3 reader receives it. Like the
// CCID driver it refuses an input shorter than the header plus CLA INS P1
// P2, and one whose ulDataLength does not match the bytes that follow the
// header (ErrMalformed, naming the field).
func DecodeVerifyStructure(b []byte) (VerifyStructure, error) {
	if len(b) < VerifyHeaderLen+MinAPDULen {
		return VerifyStructure{}, fmt.Errorf("%w: PIN_VERIFY_STRUCTURE is %d bytes, need at least %d (19-byte header and CLA INS P1 P2)",
			ErrMalformed, len(b), VerifyHeaderLen+MinAPDULen)
	}
	if err := checkDataLength(b, 15, VerifyHeaderLen, "PIN_VERIFY_STRUCTURE"); err != nil {
		return VerifyStructure{}, err
	}
	s := VerifyStructure{
		TimerOut:                 b[0],
		TimerOut2:                b[1],
		FormatString:             b[2],
		PINBlockString:           b[3],
		PINLengthFormat:          b[4],
		PINMaxExtraDigit:         binary.LittleEndian.Uint16(b[5:7]),
		EntryValidationCondition: b[7],
		NumberMessage:            b[8],
		LangID:                   binary.LittleEndian.Uint16(b[9:11]),
		MsgIndex:                 b[11],
		Data:                     append([]byte(nil), b[VerifyHeaderLen:]...),
	}
	copy(s.TeoPrologue[:], b[12:15])
	return s, nil
}

// DecodeModifyStructure reads a PIN_MODIFY_STRUCTURE as a class-3 reader
// receives it, with the checks of DecodeVerifyStructure (header 24 bytes).
func DecodeModifyStructure(b []byte) (ModifyStructure, error) {
	if len(b) < ModifyHeaderLen+MinAPDULen {
		return ModifyStructure{}, fmt.Errorf("%w: PIN_MODIFY_STRUCTURE is %d bytes, need at least %d (24-byte header and CLA INS P1 P2)",
			ErrMalformed, len(b), ModifyHeaderLen+MinAPDULen)
	}
	if err := checkDataLength(b, 20, ModifyHeaderLen, "PIN_MODIFY_STRUCTURE"); err != nil {
		return ModifyStructure{}, err
	}
	s := ModifyStructure{
		TimerOut:                 b[0],
		TimerOut2:                b[1],
		FormatString:             b[2],
		PINBlockString:           b[3],
		PINLengthFormat:          b[4],
		InsertionOffsetOld:       b[5],
		InsertionOffsetNew:       b[6],
		PINMaxExtraDigit:         binary.LittleEndian.Uint16(b[7:9]),
		ConfirmPIN:               b[9],
		EntryValidationCondition: b[10],
		NumberMessage:            b[11],
		LangID:                   binary.LittleEndian.Uint16(b[12:14]),
		MsgIndex1:                b[14],
		MsgIndex2:                b[15],
		MsgIndex3:                b[16],
		Data:                     append([]byte(nil), b[ModifyHeaderLen:]...),
	}
	copy(s.TeoPrologue[:], b[17:20])
	return s, nil
}

// checkDataLength compares ulDataLength (little-endian at off) with the
// bytes after the header.
func checkDataLength(b []byte, off, header int, name string) error {
	n := binary.LittleEndian.Uint32(b[off : off+4])
	if uint64(n) != uint64(len(b)-header) {
		return fmt.Errorf("%w: %s ulDataLength is %d but %d bytes follow the header", ErrMalformed, name, n, len(b)-header)
	}
	if n > MaxAPDULen {
		return fmt.Errorf("%w: %s abData is %d bytes, more than a short APDU (%d)", ErrMalformed, name, n, MaxAPDULen)
	}
	return nil
}
