// Package events defines the event envelope every ceremony event travels in,
// the typed payloads, the strict codec and the Store interface.
//
// Rules a caller must know:
//   - An event is immutable once appended. Old schema versions are upcast on
//     read (see Registry.Upcast); stored bytes are never rewritten.
//   - Decoding is strict: an unknown type, an unknown version, an unknown
//     field or a broken hash is an error, never skipped.
//   - Payloads never carry key bytes, share bytes, PINs or credentials.
//     Allowed: key check values (KCV), key set ids, share indexes, card
//     serials and share commitments (salted SHA-256). ARCHITECTURE.md, "Events".
//   - Each event carries the hash of the previous event of its ceremony and
//     its own hash (Hash), computed by Seal over a length-prefixed encoding
//     of every other envelope field (see hash.go). ARCHITECTURE.md, "Audit".
package events
