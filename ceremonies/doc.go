// Package ceremonies holds what every ceremony kind shares: the hardware
// ports (PIN pad, card reader, card, HSM) and the card steps built on them
// (insert a card, show the retry counter, verify the PIN). Each kind lives
// in a sub-package with its definition, state and step logic.
//
// Rules a caller must know:
//   - Ports are profile-neutral: a card is a serial and a backup slot (PIN +
//     share storage), not APDUs. The OpenPGP-card profile adapter maps them.
//   - PINs pass through as []byte and are wiped by the step that read them.
//     No PIN, key or share byte is ever recorded, logged or put in an error.
//   - Steps that wait for the operator run under a persisted deadline
//     (engine.Instance.BeginStep); a timeout pauses the ceremony.
package ceremonies
