// Package exporttest makes exports of generated events for tests and
// benchmarks: sealed events made one at a time, as a store replay
// delivers them, and an Ed25519 signer. Only tests import it.
package exporttest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/export"
)

// Signer signs manifests with an Ed25519 key.
type Signer struct{ Key ed25519.PrivateKey }

func (s Signer) Public() ed25519.PublicKey     { return s.Key.Public().(ed25519.PublicKey) }
func (s Signer) Sign(m []byte) ([]byte, error) { return ed25519.Sign(s.Key, m), nil }

// NewSigner makes a signer with a new key.
func NewSigner(t testing.TB) Signer {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Signer{k}
}

// FixedSigner has a key every process derives alike.
func FixedSigner() Signer {
	return Signer{ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))}
}

// Gen makes sealed events over ceremonies of 100 events each, one at a
// time, as a store replay would deliver them.
type Gen struct {
	raw  json.RawMessage
	v, i int
	prev string
}

func NewGen() *Gen {
	_, v, raw, _ := kinds.Registry().Marshal(&events.CardPresented{Reader: "Emulated cyberJack e-com 00", ReaderClass: "host-pinpad", Serial: "FFFE00001001", Slot: 1})
	return &Gen{raw: raw, v: v}
}

// Next is the next event.
func (g *Gen) Next(t testing.TB) events.Record {
	i := g.i
	g.i++
	if i%100 == 0 {
		g.prev = ""
	}
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	e := events.Envelope{ID: fmt.Sprintf("%032x", i), CeremonyID: fmt.Sprintf("gen-%05d", i/100), Kind: "backup-key-generate", Type: "card.presented", Version: g.v,
		Position: uint64(i%100 + 1), Time: t0.Add(time.Duration(i) * time.Millisecond), Source: events.SourceReader, Payload: g.raw}
	events.Seal(&e, g.prev)
	g.prev = e.Hash
	data, err := events.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	return events.Record{Seq: uint64(i + 1), Data: data, Envelope: e}
}

// Write writes an export of n generated events into dir (new or empty),
// signed by s.
func Write(t testing.TB, dir string, n int, s export.Signer) {
	t.Helper()
	w, err := export.NewWriter(dir, export.Filter{}, "test", time.Now(), s)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGen()
	for range n {
		if err := w.Add(g.Next(t)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
