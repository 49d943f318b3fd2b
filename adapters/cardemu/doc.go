// Package cardemu emulates one OpenPGP card (OpenPGP card specification
// v3.4) well enough for the ceremony's openpgp.Client and for GnuPG
// (gpg --card-status) and OpenSC (openpgp-tool) to recognise it, and provides
// an in-process card reader (Reader) whose Transport feeds the card.
//
// What it models: SELECT (and the MF select 3F00, answered 6A82), GET DATA
// of the DOs GnuPG's LEARN sequence reads (4F, 5F52, C4, 6E, 65, 5E, 5F50,
// 7A, C0..C6, CD, DE, 7F21 and the private use DOs 0101..0104), PUT DATA of
// the writable DOs, VERIFY (including the empty-data status query and P1=FF
// to clear), CHANGE REFERENCE DATA, RESET RETRY COUNTER with PW3 (P1=02),
// SELECT DATA occurrence 0, command chaining (CLA 10), 61xx/GET RESPONSE and
// 6Cxx. It holds no keys: reading a public key (47 81) answers 6A88, key
// generation and PSO/INTERNAL AUTHENTICATE answer as a card with no key
// would. TERMINATE and ACTIVATE (factory reset) are not implemented (6D00).
// Short APDUs only (the ATR and DO 5F52 advertise command chaining and no
// extended length).
//
// Rules a caller must know:
//
//   - The image file IS the card's memory. It holds the PINs and the DO
//     contents in clear (hex in JSON): protect it like the card itself, and
//     never let two Cards (or two processes) open the same image at once.
//   - Every state change (retry counters, PINs, DOs) is written to the image
//     before the response is returned: a temporary file in the same
//     directory, fsync, rename over the image, fsync of the directory. If
//     the write fails the card answers 6581 (memory failure) and its state
//     is unchanged. A wrong VERIFY decrements the counter on disk before the
//     PIN is compared, as a real card does against tearing.
//   - Only SELECT works before the OpenPGP application is selected; any
//     other command answers 6985 (conditions of use not satisfied).
//   - PIN verification state, the current selection and pending response
//     data are not persisted; PowerOn and Reset clear them, and so does
//     inserting the card into a Reader.
//   - Defaults follow the appliance manual, not the OpenPGP defaults: PW1 and
//     PW3 are both "123456" (the OpenPGP default PW3 is "12345678"), and a
//     new PW3 may be 6 bytes long (the specification asks for 8). Retry
//     counters start at 3; the resetting code (RC) is not set.
//   - A Card and a Reader are safe for concurrent use by several goroutines.
//     Process never panics, whatever the input.
//   - A Transport from Reader.Transport is bound to one insertion of a card,
//     like a PC/SC handle: once that card is pulled (Remove, or a torn write)
//     it answers ErrCardRemoved for good, even after a card is inserted
//     again. Take a new Transport (and a new openpgp.Client, and SELECT
//     again) after every insertion.
//   - TearNextWrite is fault injection for tests: see its documentation.
package cardemu
