// Package pkcs11hsm is the ceremonies.HSM port on a PKCS#11 token
// (ARCHITECTURE.md, "Hardware"), through github.com/miekg/pkcs11. SoftHSM2
// stands in for the HSM in tests (see the softhsmtest package).
//
// Rules a caller must know:
//   - Config names the module (.so) and the token: a label, a serial, or a
//     PKCS#11 URI (RFC 7512) with token, serial, manufacturer, model,
//     slot-id and, after '?', module-path and pin-source=file:... Exactly
//     one token must match; none or two is an error naming the tokens
//     present. Other URI attributes are refused, naming them.
//   - The PIN comes from exactly one PINSource: an environment variable, a
//     file or a prompt. Never from a flag value, never from a URI pin-value
//     (refused). The PIN bytes are wiped after C_Login and never appear in
//     an error or a log line; neither do key bytes.
//   - Open loads and C_Initializes the module once per process and shares
//     it: Close every HSM (Close is idempotent); the last Close finalises
//     and unloads the module. A token can be open once per process at a
//     time (its login is shared by every session): a second Open of it
//     fails with ErrTokenInUse. For SoftHSM2, SOFTHSM2_CONF is read when
//     the module is first initialised.
//   - The Backup Key is the one CKO_SECRET_KEY of type CKK_AES whose CKA_ID
//     is "ceremony-backup-key" (BackupKeyID). ImportBackupKey creates it as
//     a token object: private, sensitive, not extractable, usable to
//     encrypt, decrypt, wrap and unwrap; 32-byte keys only. Its KCV (the
//     first 3 bytes of AES-ECB of a zero block, upper-case hex) is computed
//     inside the HSM.
//   - An existing Backup Key is compared with a candidate without
//     extracting anything (a zero block encrypted inside the HSM against
//     the same in software, in constant time): the same key is
//     already=true, a different one is refused with ErrDifferentKey and
//     nothing changes. Two Backup Keys on one token are refused
//     (ErrTwoKeys). Nothing here ever deletes or replaces a Backup Key.
//   - Backups (backup.go, restore.go): KeysForBackup lists the token
//     private (EC, RSA) and secret (AES, generic) keys with
//     CKA_EXTRACTABLE true, minus the Backup Key, and says why any other
//     key is skipped. WrapKey wraps one under the Backup Key with
//     CKM_AES_KEY_WRAP_PAD (0x210A); the blob is the only form in which a
//     key leaves the token. UnwrapKey restores it on a token holding the
//     same Backup Key as a sensitive, private, extractable token key
//     (plus, for a private key, its public key object from KeyInfo),
//     checks it against KeyInfo, and leaves nothing behind when anything
//     fails. It never replaces a key: a key of the same class and CKA_ID
//     on the token is ErrKeyExists. A blob that will not unwrap is
//     ErrUnwrap (SoftHSM2 reports a failed integrity check as
//     CKR_GENERAL_ERROR; the Backup Key is then tried on a zero block to
//     tell a bad blob from a failing HSM). A restored key gets only the
//     usages of its type (EC: sign; RSA: sign, decrypt; AES: encrypt,
//     decrypt; generic: sign, verify), whatever the original had.
//     SoftHSM2 leaves CKA_VALUE_LEN 0 on unwrapped keys: a restored AES
//     key is measured by its wrapped length, a restored generic secret
//     cannot be backed up again.
//   - WithSession hands tests and tools the raw miekg/pkcs11 session.
//   - Errors wrap the sentinels below (ErrWrongPIN, ErrTokenNotFound,
//     ErrModule, ErrDifferentKey, ...) with what failed and what to do;
//     the PKCS#11 return value stays in the chain as a pkcs11.Error.
//     ErrWrongPIN wraps ceremonies.ErrWrongPIN and ErrPINLocked wraps
//     ceremonies.ErrPINBlocked.
//   - An HSM is safe for concurrent use: calls are serialised on its one
//     session. PKCS#11 calls cannot be cancelled: a context is checked
//     before a call starts, not during it.
package pkcs11hsm
