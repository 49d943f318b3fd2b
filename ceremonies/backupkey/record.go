package backupkey

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
)

// A share record is what the backup slot of a card stores (OpenPGP
// profile: private DO 0104, at most 255 bytes). Layout, version 1:
//
//	offset  size  field
//	0       4     magic "CBKS"
//	4       1     version (1)
//	5       16    key set id
//	21      1     threshold k
//	22      1     shares n
//	23      1     share index (1..n)
//	24      3     KCV of the key
//	27      1     share length L (33 for a 32-byte key)
//	28      L     share (vault/shamir: L-1 bytes + x coordinate)
//	28+L    4     CRC-32 (IEEE) of bytes 0..28+L, big-endian
//
// The CRC tells a damaged record from a foreign one without the event log;
// the commitment recorded at generation is what proves it belongs.
var recordMagic = []byte("CBKS")

const (
	recordVersion = 1
	keySetIDLen   = 16
	headerLen     = 28
)

// ErrBadRecord is wrapped by every DecodeRecord error.
var ErrBadRecord = errors.New("not a valid Backup Key share record")

// Record is a decoded share record. Share is secret: wipe it after use.
type Record struct {
	KeySetID  [keySetIDLen]byte
	Threshold int
	Shares    int
	Index     int
	KCV       [3]byte
	Share     []byte
}

// KeySetHex returns the key set id as it appears in events.
func (r *Record) KeySetHex() string { return hex.EncodeToString(r.KeySetID[:]) }

// EncodeRecord returns the stored bytes of r.
func EncodeRecord(r *Record) ([]byte, error) {
	switch {
	case r.Threshold < 2 || r.Shares < r.Threshold || r.Shares > 255:
		return nil, fmt.Errorf("backupkey: record: quorum %d-of-%d is invalid", r.Threshold, r.Shares)
	case r.Index < 1 || r.Index > r.Shares:
		return nil, fmt.Errorf("backupkey: record: share index %d outside 1..%d", r.Index, r.Shares)
	case len(r.Share) < 2 || len(r.Share) > 255-headerLen-4:
		return nil, fmt.Errorf("backupkey: record: share length %d is invalid", len(r.Share))
	}
	b := make([]byte, 0, headerLen+len(r.Share)+4)
	b = append(b, recordMagic...)
	b = append(b, recordVersion)
	b = append(b, r.KeySetID[:]...)
	b = append(b, byte(r.Threshold), byte(r.Shares), byte(r.Index))
	b = append(b, r.KCV[:]...)
	b = append(b, byte(len(r.Share)))
	b = append(b, r.Share...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return b, nil
}

// DecodeRecord parses stored bytes. Errors say what is wrong, never what
// the share holds.
func DecodeRecord(b []byte) (*Record, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("backupkey: %w: %s", ErrBadRecord, fmt.Sprintf(format, a...))
	}
	if len(b) < headerLen+4 {
		return nil, bad("%d bytes is too short for a record", len(b))
	}
	if !bytes.Equal(b[:4], recordMagic) {
		return nil, bad("no record marker: the slot holds other data")
	}
	if b[4] != recordVersion {
		return nil, bad("record version %d is unknown to this build", b[4])
	}
	l := int(b[27])
	if len(b) != headerLen+l+4 {
		return nil, bad("length %d does not match the declared share length %d (truncated or torn write)", len(b), l)
	}
	body := b[:headerLen+l]
	if crc32.ChecksumIEEE(body) != binary.BigEndian.Uint32(b[headerLen+l:]) {
		return nil, bad("checksum mismatch: the record is damaged")
	}
	r := &Record{Threshold: int(b[21]), Shares: int(b[22]), Index: int(b[23])}
	copy(r.KeySetID[:], b[5:21])
	copy(r.KCV[:], b[24:27])
	if r.Threshold < 2 || r.Shares < r.Threshold || r.Index < 1 || r.Index > r.Shares || l < 2 {
		return nil, bad("quorum %d-of-%d, index %d is inconsistent", r.Threshold, r.Shares, r.Index)
	}
	r.Share = append([]byte(nil), b[headerLen:headerLen+l]...)
	return r, nil
}
