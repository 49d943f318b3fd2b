// Package passwords keeps the console's password hashes: argon2id (RFC
// 9106) in a JSON file of mode 0600 next to the event store, never in an
// event. A hash is written as the PHC string
// "$argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash>" (base64, no padding).
package passwords

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// The argon2id parameters (RFC 9106, section 4, second recommended option
// with 64 MiB).
const (
	memoryKiB = 64 * 1024
	passes    = 3
	lanes     = 2
	saltLen   = 16
	keyLen    = 32
	// MinLength is the shortest password accepted.
	MinLength = 10
)

// ErrWrong is a wrong name or password; it says which of neither.
var ErrWrong = errors.New("wrong account name or password")

// File is the password file.
type File struct {
	path string
	mu   sync.Mutex
}

// Open names the password file at path (it may not exist yet).
func Open(path string) *File { return &File{path: path} }

// Path returns where the file is.
func (f *File) Path() string { return f.path }

func (f *File) read() (map[string]string, error) {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the password file: %w", err)
	}
	m := map[string]string{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("the password file %s is not valid JSON (%v): restore it from a backup", f.path, err)
	}
	return m, nil
}

// Set hashes password and stores it for name, replacing any.
func (f *File) Set(name string, password []byte) error {
	if len(password) < MinLength {
		return fmt.Errorf("the password has %d characters: give at least %d", len(password), MinLength)
	}
	h, err := Hash(password)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m, err := f.read()
	if err != nil {
		return err
	}
	m[name] = h
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return fmt.Errorf("create the password file's directory: %w", err)
	}
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write the password file: %w", err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		return fmt.Errorf("replace the password file: %w", err)
	}
	return nil
}

// Check compares password with name's hash: nil or ErrWrong.
func (f *File) Check(name string, password []byte) error {
	f.mu.Lock()
	m, err := f.read()
	f.mu.Unlock()
	if err != nil {
		return err
	}
	h, ok := m[name]
	if !ok {
		// Spend the same work as for a known name.
		Hash(password)
		return ErrWrong
	}
	if !Verify(h, password) {
		return ErrWrong
	}
	return nil
}

// Hash returns the argon2id PHC string of password with a new salt.
func Hash(password []byte) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("passwords: no randomness: %w", err)
	}
	key := argon2.IDKey(password, salt, passes, memoryKiB, lanes, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memoryKiB, passes, lanes, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// Verify reports whether password matches the PHC string h.
func Verify(h string, password []byte) bool {
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var v int
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false
	}
	got := argon2.IDKey(password, salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
