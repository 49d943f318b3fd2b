package usercard

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"testing"
)

// fakeCard holds a P-256 key as a card would (pure unit test).
type fakeCard struct{ k *ecdh.PrivateKey }

func newFake(t *testing.T) fakeCard {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return fakeCard{k}
}

func (f fakeCard) decipher(p []byte) ([]byte, error) {
	pub, err := ecdh.P256().NewPublicKey(p)
	if err != nil {
		return nil, err
	}
	return f.k.ECDH(pub)
}

func TestSealUnseal(t *testing.T) {
	card, other := newFake(t), newFake(t)
	cred := []byte("slot-user-pin-4711")
	b, err := Seal(rand.Reader, card.k.PublicKey().Bytes(), "FFFE00001001", "hsm-slot-1", cred)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 255 || bytes.Contains(b, cred) {
		t.Fatalf("sealed record: %d bytes, holds the credential in clear: %v", len(b), bytes.Contains(b, cred))
	}
	p, err := Parse(b)
	if err != nil || p.Slot != "hsm-slot-1" {
		t.Fatalf("parse: %+v %v", p, err)
	}
	got, err := p.Unseal("FFFE00001001", card.decipher)
	if err != nil || !bytes.Equal(got, cred) {
		t.Fatalf("unseal: %q %v", got, err)
	}
	// A copy on another card (another key) cannot unseal it.
	if _, err := p.Unseal("FFFE00001001", other.decipher); !errors.Is(err, ErrBadSealed) {
		t.Fatalf("unsealed by another card: %v", err)
	}
	// Nor can it be moved to another serial, or have its slot swapped.
	if _, err := p.Unseal("FFFE00001002", card.decipher); !errors.Is(err, ErrBadSealed) {
		t.Fatalf("unsealed for another serial: %v", err)
	}
	swapped := bytes.Replace(b, []byte("hsm-slot-1"), []byte("hsm-slot-2"), 1)
	if p2, err := Parse(swapped); err != nil {
		t.Fatal(err)
	} else if _, err := p2.Unseal("FFFE00001001", card.decipher); !errors.Is(err, ErrBadSealed) {
		t.Fatalf("slot swap not caught: %v", err)
	}
	for name, in := range map[string][]byte{"empty": nil, "other data": []byte("hello world"), "torn": b[:40], "trailing": append(append([]byte(nil), b...), 0)} {
		if _, err := Parse(in); !errors.Is(err, ErrBadSealed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Seal(rand.Reader, card.k.PublicKey().Bytes(), "s", "slot", make([]byte, MaxCredential+1)); err == nil {
		t.Error("an oversized credential was sealed")
	}
}

func FuzzParseSealed(f *testing.F) {
	k, _ := ecdh.P256().GenerateKey(rand.Reader)
	b, _ := Seal(rand.Reader, k.PublicKey().Bytes(), "s", "slot", []byte("1234"))
	f.Add(b)
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := Parse(in)
		if err != nil {
			return
		}
		_, _ = p.Unseal("s", func([]byte) ([]byte, error) { return make([]byte, 32), nil })
	})
}
