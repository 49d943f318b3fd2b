package pkcs11hsm

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/miekg/pkcs11"
)

// Key classes and types as KeyInfo names them.
const (
	ClassPrivate = "private"
	ClassSecret  = "secret"

	KeyTypeEC            = "EC"
	KeyTypeRSA           = "RSA"
	KeyTypeAES           = "AES"
	KeyTypeGenericSecret = "GENERIC_SECRET"
)

// KeyInfo names one key object (no key material). For a private key its
// EC or RSA fields hold the public part needed to recreate the public key
// on restore (EC: CKA_EC_PARAMS and CKA_EC_POINT DER; RSA: modulus and
// public exponent); it is not secret.
type KeyInfo struct {
	Label                   string
	ID                      []byte
	Class                   string // "private" or "secret"
	KeyType                 string // "EC", "RSA", "AES", "GENERIC_SECRET"
	ECParams, ECPoint       []byte // EC only
	Modulus, PublicExponent []byte // RSA only
	ValueLen                int    // AES / generic secret length in bytes
}

// String describes the key for messages: class, type, label and CKA_ID.
func (k KeyInfo) String() string {
	return fmt.Sprintf("%s %s key %q (CKA_ID %s)", k.Class, k.KeyType, k.Label, formatID(k.ID))
}

// pkcs11ClassAndType maps k's class and type to PKCS#11 and refuses
// combinations this package does not back up.
func pkcs11ClassAndType(k KeyInfo) (class, keyType uint, err error) {
	if !supportedForBackup(k) {
		return 0, 0, fmt.Errorf("%w: class %q with type %q is not supported (EC and RSA private keys, AES and GENERIC_SECRET secret keys are)",
			ErrKeyInfo, k.Class, k.KeyType)
	}
	class = pkcs11.CKO_SECRET_KEY
	if k.Class == ClassPrivate {
		class = pkcs11.CKO_PRIVATE_KEY
	}
	switch k.KeyType {
	case KeyTypeEC:
		keyType = pkcs11.CKK_EC
	case KeyTypeRSA:
		keyType = pkcs11.CKK_RSA
	case KeyTypeAES:
		keyType = pkcs11.CKK_AES
	case KeyTypeGenericSecret:
		keyType = pkcs11.CKK_GENERIC_SECRET
	}
	return class, keyType, nil
}

// supportedForBackup says whether backup and restore handle k's class
// and type: EC and RSA private keys, AES and generic secret keys.
func supportedForBackup(k KeyInfo) bool {
	switch k.Class {
	case ClassPrivate:
		return k.KeyType == KeyTypeEC || k.KeyType == KeyTypeRSA
	case ClassSecret:
		return k.KeyType == KeyTypeAES || k.KeyType == KeyTypeGenericSecret
	}
	return false
}

func validAESLen(n int) bool { return n == 16 || n == 24 || n == 32 }

func className(class uint) string {
	switch class {
	case pkcs11.CKO_PRIVATE_KEY:
		return ClassPrivate
	case pkcs11.CKO_SECRET_KEY:
		return ClassSecret
	case pkcs11.CKO_PUBLIC_KEY:
		return "public"
	}
	return fmt.Sprintf("class %#x", class)
}

var keyTypeNames = map[uint]string{
	pkcs11.CKK_EC:             KeyTypeEC,
	pkcs11.CKK_RSA:            KeyTypeRSA,
	pkcs11.CKK_AES:            KeyTypeAES,
	pkcs11.CKK_GENERIC_SECRET: KeyTypeGenericSecret,
	pkcs11.CKK_DSA:            "DSA",
	pkcs11.CKK_DH:             "DH",
	pkcs11.CKK_DES:            "DES",
	pkcs11.CKK_DES2:           "DES2",
	pkcs11.CKK_DES3:           "DES3",
	pkcs11.CKK_GOSTR3410:      "GOSTR3410",
	pkcs11.CKK_GOST28147:      "GOST28147",
	0x40:                      "EC_EDWARDS",
	0x41:                      "EC_MONTGOMERY",
}

func keyTypeName(t uint) string {
	if name, ok := keyTypeNames[t]; ok {
		return name
	}
	return fmt.Sprintf("%#x", t)
}

// formatID shows a CKA_ID quoted when it is printable text, else in hex.
func formatID(id []byte) string {
	if len(id) == 0 {
		return "(empty)"
	}
	if utf8.Valid(id) && !strings.ContainsFunc(string(id), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Sprintf("%q", id)
	}
	return "0x" + hex.EncodeToString(id)
}

func compareKeys(a, b KeyInfo) int {
	if c := strings.Compare(a.Class, b.Class); c != 0 {
		return c
	}
	if c := strings.Compare(a.Label, b.Label); c != 0 {
		return c
	}
	return bytes.Compare(a.ID, b.ID)
}

func sortKeys(keys []KeyInfo) { slices.SortFunc(keys, compareKeys) }
