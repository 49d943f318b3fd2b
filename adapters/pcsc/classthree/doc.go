// Package classthree builds a virtual class-3 (PIN pad) card reader for
// pcscd: an IFD handler of our own, in C (ifd/ifd-classthree.c), compiled
// with gcc against pcsc-lite's ifdhandler.h (Debian package
// libpcsclite-dev) by Build, and loaded by a private pcscd through a
// reader.conf entry (Conf; see adapters/pcsc/pcscdtest). Where vsmartcard's
// vpcd answers no PC/SC part 10 control codes, this reader offers secure
// PIN entry as a cyberJack e-com does: PC/SC clients ask for it through
// SCardControl, and the PIN is typed on a keypad on the card's side of the
// reader, never on the host.
//
// The card and the keypad are on the other end of a TCP connection:
// adapters/vpcd's InsertWithKeypad connects to the reader's port and
// serves both. The protocol is vpcd's (every message a 2-byte big-endian
// length and a payload: one-byte controls 00 power off, 01 power on, 02
// reset, 04 get ATR; longer payloads are command APDUs, answered with the
// response APDU) with two messages for the keypad, in the reader's own
// class FF (ISO 7816-4 makes CLA FF invalid for a card, so no APDU looks
// like them, and the driver refuses to forward a transmitted APDU with CLA
// FF):
//
//	FF 06 PIN_VERIFY_STRUCTURE   answered with SW1 SW2
//	FF 07 PIN_MODIFY_STRUCTURE   answered with SW1 SW2
//
// The keypad's side builds the APDU with the PIN inserted, runs it on the
// card and answers the card's status word, or a reader status (64 00
// timeout, 64 01 cancelled, 64 02 the new PINs differ, 64 03 length out of
// range, 6B 80 a structure it cannot follow): package part10's reader side.
//
// What the driver answers to SCardControl (PC/SC part 10, pcsc-lite
// reader.h):
//
//   - CM_IOCTL_GET_FEATURE_REQUEST: FEATURE_VERIFY_PIN_DIRECT,
//     FEATURE_MODIFY_PIN_DIRECT and FEATURE_IFD_PIN_PROPERTIES at
//     SCARD_CTL_CODE(3400 + tag) (IOCTLVerify, IOCTLModify,
//     IOCTLProperties);
//   - FEATURE_IFD_PIN_PROPERTIES: wLcdLayout 0x0210 (two lines of 16
//     characters), bEntryValidationCondition 02 (the OK key), bTimeOut2 0;
//   - the two PIN features: the structure is checked as the CCID driver
//     does (header, CLA INS P1 P2, ulDataLength matching), else
//     SCARD_E_UNSUPPORTED_FEATURE; then passed on, and the SW returned;
//   - anything else: SCARD_E_UNSUPPORTED_FEATURE.
//
// Rules a caller must know:
//
//   - Each reader listens on 127.0.0.1 only (unlike vpcd, which listens on
//     every address), on the port of its DEVICENAME /dev/null:PORT (or
//     CHANNELID PORT). The card is present while a client is connected;
//     pcscd notices a closed connection at its next poll (every 400 ms).
//   - pcscd serialises the driver's calls (it reports itself not thread
//     safe): while a PIN is being typed, pcscd does not poll this driver's
//     readers.
//   - The driver logs only insertions and removals, never APDUs,
//     structures or status words; its buffers are zeroed after use.
//   - The built library is not committed: Build compiles it into a
//     directory the caller chooses (a test's temporary directory).
package classthree
