package hsmbackup

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The backup file, version 1: JSON, one entry per key.
const (
	fileFormat  = "ceremony-hsm-backup"
	fileVersion = 1
	// Mechanism is the only wrapping mechanism of version 1.
	Mechanism = "CKM_AES_KEY_WRAP_PAD"
)

// ErrBadFile is wrapped by every DecodeFile error.
var ErrBadFile = errors.New("not a valid HSM backup file")

// File is a backup.
type File struct {
	Format       string    `json:"format"`
	Version      int       `json:"version"`
	Created      time.Time `json:"created"`
	Ceremony     string    `json:"ceremony"`
	HSM          string    `json:"hsm"`
	BackupKeyKCV string    `json:"backup_key_kcv"`
	Mechanism    string    `json:"mechanism"`
	Keys         []Entry   `json:"keys"`
}

// Entry is one wrapped key. Byte fields are hex, Wrapped is base64.
type Entry struct {
	Label          string `json:"label"`
	ID             string `json:"id"`
	Class          string `json:"class"`
	KeyType        string `json:"key_type"`
	ECParams       string `json:"ec_params,omitempty"`
	ECPoint        string `json:"ec_point,omitempty"`
	Modulus        string `json:"modulus,omitempty"`
	PublicExponent string `json:"public_exponent,omitempty"`
	ValueLen       int    `json:"value_len,omitempty"`
	Wrapped        string `json:"wrapped"`
}

func entryOf(k KeyInfo, wrapped []byte) Entry {
	return Entry{
		Label: k.Label, ID: hex.EncodeToString(k.ID), Class: k.Class, KeyType: k.KeyType,
		ECParams: hex.EncodeToString(k.ECParams), ECPoint: hex.EncodeToString(k.ECPoint),
		Modulus: hex.EncodeToString(k.Modulus), PublicExponent: hex.EncodeToString(k.PublicExponent),
		ValueLen: k.ValueLen, Wrapped: base64.StdEncoding.EncodeToString(wrapped),
	}
}

// Key returns the entry's key description and wrapped bytes.
func (e Entry) Key() (KeyInfo, []byte, error) {
	var k KeyInfo
	var err error
	field := func(name, s string) []byte {
		if err != nil {
			return nil
		}
		var b []byte
		if b, err = hex.DecodeString(s); err != nil {
			err = fmt.Errorf("key %q: %s is not hex", e.Label, name)
		}
		return b
	}
	k.Label, k.Class, k.KeyType, k.ValueLen = e.Label, e.Class, e.KeyType, e.ValueLen
	k.ID = field("id", e.ID)
	k.ECParams = field("ec_params", e.ECParams)
	k.ECPoint = field("ec_point", e.ECPoint)
	k.Modulus = field("modulus", e.Modulus)
	k.PublicExponent = field("public_exponent", e.PublicExponent)
	if err != nil {
		return KeyInfo{}, nil, err
	}
	wrapped, werr := base64.StdEncoding.DecodeString(e.Wrapped)
	if werr != nil || len(wrapped) == 0 {
		return KeyInfo{}, nil, fmt.Errorf("key %q: wrapped is not base64 key material", e.Label)
	}
	return k, wrapped, nil
}

// Encode returns the file's bytes.
func (f *File) Encode() ([]byte, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// DecodeFile parses a backup strictly.
func DecodeFile(b []byte) (*File, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("hsmbackup: %w: %s", ErrBadFile, fmt.Sprintf(format, a...))
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, bad("%v (truncated or not a backup file?)", err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, bad("data after the backup")
	}
	switch {
	case f.Format != fileFormat:
		return nil, bad("format %q, want %q", f.Format, fileFormat)
	case f.Version != fileVersion:
		return nil, bad("version %d is unknown to this build (it reads %d)", f.Version, fileVersion)
	case f.Mechanism != Mechanism:
		return nil, bad("mechanism %q, this build unwraps %s only", f.Mechanism, Mechanism)
	case len(f.BackupKeyKCV) != 6:
		return nil, bad("backup_key_kcv %q is not a 3-byte KCV", f.BackupKeyKCV)
	}
	seen := map[string]bool{}
	for i, e := range f.Keys {
		if _, _, err := e.Key(); err != nil {
			return nil, bad("entry %d: %v", i+1, err)
		}
		if e.Class != "private" && e.Class != "secret" {
			return nil, bad("entry %d (%q): class %q, want private or secret", i+1, e.Label, e.Class)
		}
		if seen[e.Class+"/"+e.ID] {
			return nil, bad("entry %d (%q): a second %s key with id %s", i+1, e.Label, e.Class, e.ID)
		}
		seen[e.Class+"/"+e.ID] = true
	}
	return &f, nil
}

// writeNew writes b to path, refusing to replace an existing file: temp
// file in the same directory, fsync, hard link to the final name (which
// fails if it exists), fsync of the directory.
func writeNew(path string, b []byte) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists: a backup is never overwritten; choose another name", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".backup-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w (a backup is never overwritten)", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
