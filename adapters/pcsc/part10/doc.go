// Package part10 is PC/SC part 10 secure PIN entry: pure encoders and
// decoders; on the host's side the PIN never passes through them — the
// reader's keypad collects it. The reader's side (DecodeVerifyStructure,
// DecodeModifyStructure, the structures' APDU methods, ReaderStatus) is
// for an emulated class-3 reader: those do see the PIN, on the reader's
// side of the PC/SC boundary (reader.go).
//
// The package does no I/O. A caller that owns a PC/SC handle (for example
// github.com/ebfe/scard) does the round trips:
//
//  1. Card.Control(CMIoctlGetFeatureRequest, nil) → ParseFeatures. The
//     values are complete IOCTL codes: pass them to Control unchanged, never
//     through scard.CtlCode (it would add the base a second time).
//  2. Optionally Control(FeatureIFDPINProperties ioctl) → ParsePINProperties
//     and Control(FeatureGetTLVProperties ioctl) → ParseTLVProperties, to
//     learn the display size and the reader's own PIN length limits.
//  3. Control(FeatureVerifyPINDirect ioctl, EncodeVerify(p)) or
//     Control(FeatureModifyPINDirect ioctl, EncodeModify(p)); the reader
//     prompts, collects the PIN on its keypad, sends the APDU to the card
//     and answers SW1 SW2, which ResponseError maps.
//
// Byte order: the feature list carries big-endian IOCTL codes; every
// multi-byte field of PIN_VERIFY_STRUCTURE, PIN_MODIFY_STRUCTURE,
// PIN_PROPERTIES_STRUCTURE and the GET_TLV_PROPERTIES records is
// little-endian.
//
// Every error this package returns wraps one of ErrMalformed (input from a
// reader that cannot be decoded), ErrInvalidParams (a caller's parameters
// refused before encoding) or, from ResponseError, one of the pinpad
// sentinels or a *CardStatus.
package part10
