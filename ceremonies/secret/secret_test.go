package secret

import (
	"bytes"
	"crypto/aes"
	"crypto/rand"
	"encoding/hex"
	"testing"
)

// FIPS 197, appendix C.3: AES-256.
func TestAES256BlockFIPS197(t *testing.T) {
	key, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	var in [16]byte
	p, _ := hex.DecodeString("00112233445566778899aabbccddeeff")
	copy(in[:], p)
	got, err := AES256Block(key, in)
	if err != nil {
		t.Fatal(err)
	}
	if want := "8ea2b7ca516745bfeafc49904b496089"; hex.EncodeToString(got[:]) != want {
		t.Fatalf("AES-256 of the FIPS 197 vector: got %x, want %s", got, want)
	}
}

func TestAES256BlockMatchesCryptoAES(t *testing.T) {
	for range 50 {
		key := make([]byte, 32)
		var in, want [16]byte
		rand.Read(key)
		rand.Read(in[:])
		c, _ := aes.NewCipher(key)
		c.Encrypt(want[:], in[:])
		got, err := AES256Block(key, in)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("key %x block %x: got %x, crypto/aes %x", key, in, got, want)
		}
	}
	if _, err := AES256Block(make([]byte, 16), [16]byte{}); err == nil {
		t.Fatal("a 16-byte key was accepted")
	}
}

func TestBufferIsLockedNonDumpableAndWiped(t *testing.T) {
	src := []byte("0123456789abcdef0123456789abcdef")
	orig := bytes.Clone(src)
	b, err := Copy(src)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), orig) {
		t.Fatal("the buffer does not hold the copy")
	}
	if !bytes.Equal(src, make([]byte, len(src))) {
		t.Fatal("Copy left the source unwiped")
	}
	// /proc/self/smaps lists the mapping as locked ("lo") and dont-dump ("dd").
	smaps := smapsOf(t, b.Bytes())
	if !bytes.Contains(smaps, []byte(" dd")) {
		t.Fatalf("mapping not marked dont-dump:\n%s", smaps)
	}
	if !bytes.Contains(smaps, []byte(" lo")) {
		t.Fatalf("mapping not locked:\n%s", smaps)
	}
	mem := b.mem
	b.Release()
	b.Release()
	if b.Bytes() != nil {
		t.Fatal("Bytes after Release is not nil")
	}
	if smapsOf(t, mem) != nil {
		t.Fatal("the buffer is still mapped after Release")
	}
	if _, err := New(0); err == nil {
		t.Fatal("a buffer of 0 bytes was made")
	}
}
