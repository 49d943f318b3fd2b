package hsmbackup

import "context"

// KeyInfo names one key (no key material). For a private key it carries
// the public part needed to recreate the pair on restore.
type KeyInfo struct {
	Label          string
	ID             []byte
	Class          string // "private" or "secret"
	KeyType        string // "EC", "RSA", "AES", "GENERIC_SECRET"
	ECParams       []byte
	ECPoint        []byte
	Modulus        []byte
	PublicExponent []byte
	ValueLen       int
}

// Skipped is a key that cannot be backed up, and why.
type Skipped struct {
	Key    KeyInfo
	Reason string
}

// Vault is what the ceremonies need of an HSM.
type Vault interface {
	Name() string
	// BackupKey returns the loaded Backup Key's label and KCV.
	BackupKey(ctx context.Context) (label, kcv string, found bool, err error)
	KeysForBackup(ctx context.Context) ([]KeyInfo, []Skipped, error)
	WrapKey(ctx context.Context, k KeyInfo) ([]byte, error)
	UnwrapKey(ctx context.Context, k KeyInfo, wrapped []byte) error
}
