// Package pcsc reaches real card readers through pcscd (PC/SC, via
// github.com/ebfe/scard): it lists readers, watches them for cards coming
// and going, and carries APDUs to a card for the ceremonies (a Slot is an
// opgpcard.Slot).
//
// Rules a caller must know:
//   - pcsc-lite reads PCSCLITE_CSOCK_NAME once per process: set it before
//     the first call into this package (tests: pcscdtest.Start in TestMain).
//   - The connection is shared (GnuPG with pcsc-shared and OpenSC can use
//     the reader too), but while a ceremony works with a card the Slot
//     holds a PC/SC transaction for the length of the step (Hold, from the
//     card's presentation until it leaves): no other program gets in
//     between. Without Hold each APDU has a transaction of its own. A card
//     handle is bound to one insertion: after the card leaves, the Slot
//     reconnects for the next card.
//   - PC/SC error codes become errors naming the reader and the operation,
//     wrapping ErrNoService (pcscd is gone), ErrReaderGone, ErrNoCard
//     (removed or absent), ErrSharing, ErrTimeout.
package pcsc
