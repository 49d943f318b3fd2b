package jetstream

// This file reads the message records of the embedded server's stream
// block files (msgs/<index>.blk) directly, for the locator of a read
// without a server (locator.go). It pins the on-disk format of
// nats-server v2.15.2 (server/filestore.go, writeMsgRecordLocked and
// rebuildStateLocked): a block is a sequence of records
//
//	rl uint32       record length, all fields included; bit 31 (hbit): headers
//	seq uint64      stream sequence; bit 63 (ebit): erased, bit 62 (tbit): tombstone
//	ts int64        nanoseconds
//	slen uint16     subject length
//	subject         slen bytes
//	[hlen uint32, headers]   when hbit
//	msg             the message's data
//	hash [8]byte    HighwayHash-64 of seq, ts, subject, headers, msg, keyed
//	                by SHA-256("<stream>-<index>")
//
// all little-endian, unencrypted and uncompressed. A block that is
// compressed (it starts with "cmp") or encrypted (a <index>.key file
// beside it), a record with ebit or tbit (the event stream never deletes),
// a hash that does not match or a record cut short is an error: the
// caller then starts the server, which reads any format it writes.
// TestBlockRecordsMatchServer fails when the server in go.mod writes
// records this file does not read as the server reads them.

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"

	"github.com/minio/highwayhash"
)

const (
	blockRecordHeader = 22      // rl, seq, ts, slen
	blockRecordHash   = 8       // HighwayHash-64
	blockHeadersBit   = 1 << 31 // hbit, in rl
	blockErasedBit    = 1 << 63 // ebit, in seq
	blockTombstoneBit = 1 << 62 // tbit, in seq
	blockRecordMax    = 32 << 20
)

// blockRecord is one message record of a block file.
type blockRecord struct {
	Seq     uint64
	Subject string
	Msg     []byte // the message's data, headers left out
	Len     int    // the record's length in the file
	// Tombstone: a deletion marker of sequence Seq, not a message.
	Tombstone bool
}

// blockHash returns the record hash of block index of stream.
func blockHash(stream string, index uint32) hash.Hash64 {
	key := sha256.Sum256(fmt.Appendf(nil, "%s-%d", stream, index))
	h, err := highwayhash.New64(key[:])
	if err != nil {
		panic(err) // the key is 32 bytes: cannot fail
	}
	return h
}

// blockRecordLen returns the length of the record whose first
// blockRecordHeader bytes are hdr, checked against blockRecordMax.
func blockRecordLen(hdr []byte) (int, error) {
	if len(hdr) < blockRecordHeader {
		return 0, fmt.Errorf("a record header is cut short (%d bytes)", len(hdr))
	}
	if string(hdr[:3]) == "cmp" {
		return 0, fmt.Errorf("the block is compressed (this build reads uncompressed blocks only)")
	}
	rl := int(binary.LittleEndian.Uint32(hdr) &^ blockHeadersBit)
	if rl < blockRecordHeader+blockRecordHash || rl > blockRecordMax {
		return 0, fmt.Errorf("record length %d out of range", rl)
	}
	return rl, nil
}

// parseBlockRecord reads the record at the start of buf (at least its
// length, blockRecordLen) and checks its hash with h (nil: not checked).
func parseBlockRecord(buf []byte, h hash.Hash64) (blockRecord, error) {
	rl, err := blockRecordLen(buf)
	if err != nil {
		return blockRecord{}, err
	}
	if len(buf) < rl {
		return blockRecord{}, fmt.Errorf("a record of %d bytes is cut short at %d", rl, len(buf))
	}
	le := binary.LittleEndian
	hasHeaders := le.Uint32(buf)&blockHeadersBit != 0
	seq := le.Uint64(buf[4:])
	slen := int(le.Uint16(buf[20:]))
	if seq&blockErasedBit != 0 {
		return blockRecord{}, fmt.Errorf("record of sequence %d is erased (the event stream never deletes)", seq&^(blockErasedBit|blockTombstoneBit))
	}
	tombstone := seq&blockTombstoneBit != 0
	seq &^= blockTombstoneBit
	body := buf[blockRecordHeader : rl-blockRecordHash]
	if slen > len(body) {
		return blockRecord{}, fmt.Errorf("record of sequence %d: subject length %d overruns the record", seq, slen)
	}
	subject, rest := body[:slen], body[slen:]
	var headers []byte
	if hasHeaders {
		if len(rest) < 4 {
			return blockRecord{}, fmt.Errorf("record of sequence %d: headers length cut short", seq)
		}
		hlen := int(le.Uint32(rest))
		if hlen > len(rest)-4 {
			return blockRecord{}, fmt.Errorf("record of sequence %d: headers length %d overruns the record", seq, hlen)
		}
		headers, rest = rest[4:4+hlen], rest[4+hlen:]
	}
	if h != nil {
		h.Reset()
		h.Write(buf[4:20])
		h.Write(subject)
		h.Write(headers)
		h.Write(rest)
		var sum [blockRecordHash]byte
		if string(h.Sum(sum[:0])) != string(buf[rl-blockRecordHash:rl]) {
			return blockRecord{}, fmt.Errorf("record of sequence %d does not match its hash (damaged)", seq)
		}
	}
	return blockRecord{Seq: seq, Subject: string(subject), Msg: rest, Len: rl, Tombstone: tombstone}, nil
}
