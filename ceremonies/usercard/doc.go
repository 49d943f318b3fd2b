// Package usercard holds the PKCS#11 slot user-card ceremonies: enrol a
// card as the credential of a PKCS#11 slot, and activate (log in) the slot
// with the card and its PIN. There is no quorum for user cards (the manual).
//
// Rules a caller must know:
//   - The slot credential is sealed to a P-256 key made on the card, which
//     never leaves it: only the card can unseal it (PSO:DECIPHER), after
//     its user PIN. So a one-to-one copy of a user card is impossible: the
//     sealed bytes are useless on any other card.
//   - The credential is checked against the slot before anything is
//     written to a card, and again, unsealed by the card, before the
//     enrolment is recorded.
//   - The credential, the shared secret and the key never reach an event,
//     a log or an error; the events name the card, the slot and the
//     fingerprint of the card key.
package usercard
