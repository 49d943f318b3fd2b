// Package openpgp speaks the subset of the OpenPGP smart card application
// (OpenPGP card specification v3.4) that the ceremony needs: SELECT, the AID
// (DO 4F), the PW status bytes (DO C4), VERIFY, the private data objects
// 0101..0104, CHANGE REFERENCE DATA and, for the decryption key (CRT B8),
// GENERATE ASYMMETRIC KEY PAIR, reading its public key and PSO:DECIPHER
// with ECDH. The decryption key lets a credential be encrypted to a key
// that never leaves the card: whoever holds the ciphertext still needs the
// card and its PW1 to recover it.
//
// It has two layers:
//
//   - Pure functions with no I/O: the command encoders (EncodeSelect,
//     EncodeGetData, EncodeVerify, EncodeGenerateKey, EncodeReadPublicKey,
//     EncodePSODecipherECDH, ...), the response decoders (ParseResponse,
//     ParseAID, ParsePWStatus, ParseECPublicKey) and StatusError, which maps
//     a status word to a typed error. They are table-tested and fuzzed.
//   - Client, which sends those commands over a Transport (one command APDU
//     in, one response APDU out) and handles 61xx (GET RESPONSE) and 6Cxx
//     (re-send with the right Le) itself.
//
// Rules a caller must know:
//
//   - Short APDUs only: command data is at most 255 bytes. Longer data is
//     refused before anything is sent (ErrDataTooLong). Private DOs are
//     therefore at most 255 bytes.
//   - Call Select after every power-on or reset of the card, before any other
//     command.
//   - PIN verification state lives on the card, not in the Client. It is
//     shared by everyone talking to that card and is lost when the card is
//     reset, removed or the application is selected again.
//   - Verify with a wrong PIN spends one of the card's tries (3 on most
//     cards); RetriesLeft never spends one.
//   - A Client is safe for concurrent use: it serialises its own commands, so
//     a GET RESPONSE loop is never interleaved with another of its commands.
//     Two Clients on one Transport are not serialised against each other.
//   - The Client zeroes every command buffer (which may hold a PIN or DO
//     contents) after the Transport returns. A Transport must not keep a
//     reference to the command after Transmit returns.
//   - Keys (v3.4 §7.2.14, §7.2.11): GenerateDecryptionKey needs PW3
//     verified and replaces any old decryption key, so whatever was
//     encrypted to the old key is lost. DecryptionPublicKey needs no PIN and
//     gives ErrNotFound when there is no key. DecipherECDH needs PW1
//     verified with reference 82 (PW1); PW1Sign (81) or PW3 alone give
//     ErrSecurityStatus, a point the card refuses ErrBadData. Points are
//     bytes in the encoding of the card's curve (DO C2); for ECDH on P-256,
//     the 65-byte uncompressed 04 || X || Y, which crypto/ecdh's
//     P256().NewPublicKey accepts. The Client does not check the curve: the
//     caller does, before it trusts a point. The shared secret is the X
//     coordinate; the caller clears it after use. The TLV lengths in these
//     commands are minimal BER (81 xx above 127 bytes) and parsed strictly.
//   - Errors never contain PIN bytes, DO contents or shared secrets. A status word from the
//     card comes back as a *CardError (it unwraps to one of the Err*
//     sentinels, or to a *WrongPINError for 63Cx) or, for a status word with
//     no meaning here, as an *SWError. Both name the operation and the status
//     word in hex. Transport errors are wrapped with %w, so errors.Is works
//     with the transport's own sentinel errors.
package openpgp
