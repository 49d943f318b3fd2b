package translog

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyFileName is the file, in the checkpoints directory, naming the public
// key that signs the directory's checkpoints (hex, one line). It is
// written with the first checkpoint and never rewritten: every later
// checkpoint must be signed by that key (a key file or the HSM's), and a
// command without the signing key still checks the stream against the
// checkpoints with it.
const KeyFileName = "audit-key.pub"

// RecordedKey returns the public key recorded in the directory, and
// whether there is one.
func (d Dir) RecordedKey() (ed25519.PublicKey, bool, error) {
	path := filepath.Join(string(d), KeyFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("translog: read the checkpoints' key %s: %w", path, err)
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != ed25519.PublicKeySize {
		return nil, false, fmt.Errorf("translog: %s is not an Ed25519 public key in hex: the file is damaged (it names the key that signs this directory's checkpoints; restore it from a backup)", path)
	}
	return ed25519.PublicKey(k), true, nil
}

// recordKey writes pub as the directory's key when none is recorded, and
// checks it otherwise.
func (d Dir) recordKey(pub ed25519.PublicKey) error {
	old, ok, err := d.RecordedKey()
	if err != nil {
		return err
	}
	if ok {
		if !old.Equal(pub) {
			return &KeyMismatchError{Dir: d, Recorded: old, Given: pub}
		}
		return nil
	}
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return fmt.Errorf("translog: create the checkpoints directory %s: %w", d, err)
	}
	path := filepath.Join(string(d), KeyFileName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("translog: create %s: %w", path, err)
	}
	_, werr := f.WriteString(hex.EncodeToString(pub) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("translog: write %s: %w", path, err)
	}
	return syncDir(string(d))
}

// KeyMismatchError says a signer is not the key the directory's
// checkpoints are signed by.
type KeyMismatchError struct {
	Dir             Dir
	Recorded, Given ed25519.PublicKey
}

func (e *KeyMismatchError) Error() string {
	return fmt.Sprintf("the checkpoints in %s are signed by the audit key %x (%s), this command's key is %x: give the same key (the key file, or --hsm pkcs11 with the token that holds it)",
		e.Dir, []byte(e.Recorded), filepath.Join(string(e.Dir), KeyFileName), []byte(e.Given))
}
