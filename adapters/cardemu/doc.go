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
// 6Cxx. TERMINATE and ACTIVATE (factory reset) are not supported (6D00).
// Short APDUs only (the ATR and DO 5F52 advertise command chaining and no
// extended length).
//
// Keys (keys.go): the card holds at most one key, the decryption key (CRT
// B8), ECDH on NIST P-256 only (DO C2 = 12 2A 86 48 CE 3D 03 01 07; C1 and
// C3 announce RSA-2048 but those keys never exist):
//
//   - GENERATE ASYMMETRIC KEY PAIR 00 47 80 00 02 B8 00 (v3.4 §7.2.14) needs
//     PW3 verified (else 6982). It makes a new P-256 key from crypto/rand,
//     replacing any old one (whose shared secrets are then lost), persists
//     it, sets DE to 02 01 (generated) and answers 7F49 43 86 41 04||X||Y.
//     The fingerprint (C5) and generation time (CD) DOs stay zero. Only B8
//     can be generated: B6 and A4 answer 6A81.
//   - READ PUBLIC KEY 00 47 81 00 02 B8 00 is always allowed and answers the
//     same template, or 6A88 when there is no key (always for B6 and A4).
//   - PSO:DECIPHER 00 2A 80 86 (§7.2.11) needs PW1 verified with reference
//     82 (else 6982; 81 or PW3 is not enough). With no key it answers 6A88.
//     The data must be exactly A6 { 7F49 { 86 point } } with minimal BER
//     lengths and an uncompressed P-256 point on the curve (else 6A80); the
//     answer is the 32-byte X coordinate of the shared point.
//   - PSO:CDS and INTERNAL AUTHENTICATE answer 6982 before their PIN and
//     6A88 after it: there is no signature or authentication key.
//
// The private key never leaves the card through an APDU: no DO holds it.
//
// Rules a caller must know:
//
//   - The image file IS the card's memory. It holds the PINs, the DO
//     contents and the private scalar of the decryption key in clear (hex in
//     JSON): protect it like the card itself, and never let two Cards (or
//     two processes) open the same image at once. Whoever copies the image
//     has copied the card, key included; a real card's key cannot be
//     copied. Images are written as version 2; version 1 images (from
//     before keys) are still read, as cards with no key.
//   - Every state change (retry counters, PINs, DOs, key generation) is
//     written to the image before the response is returned: a temporary
//     file in the same directory, fsync, rename over the image, fsync of the
//     directory. If the write fails the card answers 6581 (memory failure)
//     and its state is unchanged (a failed generation keeps the old key). A wrong VERIFY decrements the counter on disk before the
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
