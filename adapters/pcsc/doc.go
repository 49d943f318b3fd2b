// Package pcsc reaches real card readers through pcscd (PC/SC, via
// github.com/ebfe/scard): it lists readers, watches them for cards coming
// and going, and carries APDUs to a card for the ceremonies (a Slot is an
// opgpcard.Slot).
//
// Rules a caller must know:
//   - pcsc-lite reads PCSCLITE_CSOCK_NAME once per process: set it before
//     the first call into this package (tests: pcscdtest.Start in TestMain).
//   - Each APDU runs inside a PC/SC transaction on a shared connection, so
//     other clients (GnuPG with pcsc-shared, OpenSC) may use the reader
//     between APDUs but never in the middle of one. A card handle is bound
//     to one insertion: after the card leaves, the Slot reconnects for the
//     next card.
//   - PC/SC error codes become errors naming the reader and the operation,
//     wrapping ErrNoService (pcscd is gone), ErrReaderGone, ErrNoCard
//     (removed or absent), ErrSharing, ErrTimeout.
package pcsc
