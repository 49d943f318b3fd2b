// Package hsmbackup holds the HSM backup and restore ceremonies: "whenever
// data leaves the HSM, it is encrypted with the Backup Key" (the manual).
//
// Rules a caller must know:
//   - Backup wraps every key the Vault marks for backup under the loaded
//     Backup Key (CKM_AES_KEY_WRAP_PAD) into a versioned file that names
//     each key and the Backup Key's KCV. Keys that cannot leave the HSM are
//     listed as skipped. An existing file is never overwritten.
//   - Restore refuses, saying why, when no Backup Key is loaded or its KCV
//     differs from the file's. Each unwrap is asked for by an event first.
//   - Wrapped key material stays in the file; events name keys only.
package hsmbackup
