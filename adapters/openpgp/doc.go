// Package openpgp speaks the subset of the OpenPGP smart card application
// (OpenPGP card specification v3.4) that the ceremony needs: SELECT, the AID
// (DO 4F), the PW status bytes (DO C4), VERIFY, the private data objects
// 0101..0104 and CHANGE REFERENCE DATA.
//
// It has two layers:
//
//   - Pure functions with no I/O: the command encoders (EncodeSelect,
//     EncodeGetData, EncodeVerify, ...), the response decoders
//     (ParseResponse, ParseAID, ParsePWStatus) and StatusError, which maps a
//     status word to a typed error. They are table-tested and fuzzed.
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
//   - Errors never contain PIN bytes or DO contents. A status word from the
//     card comes back as a *CardError (it unwraps to one of the Err*
//     sentinels, or to a *WrongPINError for 63Cx) or, for a status word with
//     no meaning here, as an *SWError. Both name the operation and the status
//     word in hex. Transport errors are wrapped with %w, so errors.Is works
//     with the transport's own sentinel errors.
package openpgp
