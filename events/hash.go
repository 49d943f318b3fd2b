package events

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// hashDomain separates our hash input from any other SHA-256 use.
const hashDomain = "ceremony-event-hash-v1"

// ComputeHash returns the hex SHA-256 of the envelope without its Hash field.
// The input is the domain string followed by each field as a 4-byte
// big-endian length and its bytes, in the order: id, ceremony_id, kind, type,
// version (decimal), position (decimal), time (RFC 3339 with nanoseconds,
// UTC), source, causation_id, payload (the exact JSON bytes), prev_hash.
// An offline verifier can recompute it from an export alone.
func ComputeHash(e Envelope) string {
	var ts [40]byte
	sum := hashSum(e, e.Time.UTC().AppendFormat(ts[:0], time.RFC3339Nano))
	return hex.EncodeToString(sum[:])
}

// hashMatches reports whether e.Hash is the hash of e, whose time is
// written ts (as ComputeHash formats it), without allocating.
func hashMatches[T string | []byte](e Envelope, ts T) bool {
	sum := hashSum(e, ts)
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], sum[:])
	return string(h[:]) == e.Hash
}

// hashSum is the SHA-256 of the hash input ComputeHash documents.
func hashSum[T string | []byte](e Envelope, ts T) [sha256.Size]byte {
	var stack [640]byte
	var num [20]byte
	b := appendField(stack[:0], hashDomain)
	b = appendField(b, e.ID)
	b = appendField(b, e.CeremonyID)
	b = appendField(b, e.Kind)
	b = appendField(b, e.Type)
	b = appendField(b, strconv.AppendInt(num[:0], int64(e.Version), 10))
	b = appendField(b, strconv.AppendUint(num[:0], e.Position, 10))
	b = appendField(b, ts)
	b = appendField(b, e.Source)
	b = appendField(b, e.CausationID)
	b = appendField(b, e.Payload)
	b = appendField(b, e.PrevHash)
	return sha256.Sum256(b)
}

// appendField appends v as a 4-byte big-endian length and its bytes.
func appendField[T ~string | ~[]byte](b []byte, v T) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// Seal sets e.PrevHash to prev and e.Hash to the hash of the result.
func Seal(e *Envelope, prev string) {
	e.PrevHash = prev
	e.Hash = ComputeHash(*e)
}

// VerifyChain checks that evs are one ceremony's events in order: positions
// 1, 2, 3…, each PrevHash equal to the previous Hash (empty for the first),
// each Hash correct. It returns the first break found.
func VerifyChain(evs []Envelope) error {
	prev := ""
	for i, e := range evs {
		want := uint64(i + 1)
		if e.Position != want {
			return fmt.Errorf("events: ceremony %s: event %d has position %d, want %d (an event is missing or out of order)", e.CeremonyID, i+1, e.Position, want)
		}
		if e.PrevHash != prev {
			return fmt.Errorf("events: ceremony %s: position %d: previous hash does not match the event before it (chain broken)", e.CeremonyID, e.Position)
		}
		if got := ComputeHash(e); got != e.Hash {
			return fmt.Errorf("events: ceremony %s: position %d: hash mismatch (the event was altered)", e.CeremonyID, e.Position)
		}
		prev = e.Hash
	}
	return nil
}
