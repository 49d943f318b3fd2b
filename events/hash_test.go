package events_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/events"
)

// specHash is the hash as ComputeHash's documentation describes it, written
// again from that text: what an offline verifier would implement.
func specHash(e events.Envelope) string {
	h := sha256.New()
	for _, f := range []string{
		"ceremony-event-hash-v1",
		e.ID, e.CeremonyID, e.Kind, e.Type,
		strconv.Itoa(e.Version), strconv.FormatUint(e.Position, 10),
		e.Time.UTC().Format(time.RFC3339Nano),
		string(e.Source), e.CausationID, string(e.Payload), e.PrevHash,
	} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestComputeHashMatchesTheDocumentedInput(t *testing.T) {
	for _, e := range testChain(4) {
		if got, want := events.ComputeHash(e), specHash(e); got != want {
			t.Errorf("position %d: ComputeHash = %s, documented input gives %s", e.Position, got, want)
		}
	}
	// A known answer (computed independently, in Python, from the doc
	// comment): changing the hash input breaks every stored chain
	// and every offline verifier, so it must show up here.
	e := events.Envelope{
		ID: "evt-1", CeremonyID: "bkg-1", Kind: "backup-key-generate", Type: "card.removed", Version: 1,
		Position: 1, Time: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), Source: events.SourceReader,
		Payload: json.RawMessage(`{"reader":"r","serial":"s"}`),
	}
	const want = "79004a5b8d2ce16f40d1ab32dbee8ec40da140bb47c7a30487ca3238509b76d6"
	if got := events.ComputeHash(e); got != want {
		t.Errorf("ComputeHash(known envelope) = %s, want %s", got, want)
	}
}

func TestComputeHashCoversEveryField(t *testing.T) {
	base := testEnvelope(2, strings.Repeat("ef", 32), nil)
	baseHash := events.ComputeHash(base)
	cases := []struct {
		name   string
		change func(*events.Envelope)
	}{
		{"id", func(e *events.Envelope) { e.ID += "x" }},
		{"ceremony id", func(e *events.Envelope) { e.CeremonyID += "x" }},
		{"kind", func(e *events.Envelope) { e.Kind += "x" }},
		{"type", func(e *events.Envelope) { e.Type += "x" }},
		{"version", func(e *events.Envelope) { e.Version++ }},
		{"position", func(e *events.Envelope) { e.Position++ }},
		{"time by a nanosecond", func(e *events.Envelope) { e.Time = e.Time.Add(time.Nanosecond) }},
		{"source", func(e *events.Envelope) { e.Source = events.SourceCard }},
		{"causation id", func(e *events.Envelope) { e.CausationID = "" }},
		{"payload", func(e *events.Envelope) { e.Payload = json.RawMessage(`{"reader":"r"}`) }},
		{"prev hash", func(e *events.Envelope) { e.PrevHash = "" }},
		// Length prefixes: moving a byte from one field to the next changes the hash.
		{"field boundary", func(e *events.Envelope) { e.ID, e.CeremonyID = e.ID+e.CeremonyID[:1], e.CeremonyID[1:] }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := base
			c.change(&e)
			if events.ComputeHash(e) == baseHash {
				t.Errorf("changing the %s does not change the hash", c.name)
			}
		})
	}
	t.Run("not the hash itself, nor the time zone", func(t *testing.T) {
		e := base
		e.Hash = "anything"
		e.Time = e.Time.In(time.FixedZone("X", -7*3600))
		if events.ComputeHash(e) != baseHash {
			t.Error("the hash depends on the Hash field or on the time zone of the same instant")
		}
	})
}

func TestSeal(t *testing.T) {
	e := testEnvelope(1, "", nil)
	events.Seal(&e, "prev")
	if e.PrevHash != "prev" || e.Hash != events.ComputeHash(e) || len(e.Hash) != 64 {
		t.Errorf("Seal: prev %q hash %q; want prev and the 64-hex hash of the result", e.PrevHash, e.Hash)
	}
}

func TestVerifyChain(t *testing.T) {
	cases := []struct {
		name    string
		evs     func() []events.Envelope
		wantErr string // "" for a valid chain
	}{
		{"empty", func() []events.Envelope { return nil }, ""},
		{"one event", func() []events.Envelope { return testChain(1) }, ""},
		{"five events", func() []events.Envelope { return testChain(5) }, ""},
		{"changed field", func() []events.Envelope {
			c := testChain(5)
			c[2].Payload = json.RawMessage(`{"reader":"Virtual PCD 00 00","serial":"000500009999"}`)
			return c
		}, "position 3: hash mismatch"},
		{"changed field, resealed", func() []events.Envelope {
			c := testChain(5)
			c[2].Source = events.SourceOperator
			events.Seal(&c[2], c[2].PrevHash)
			return c
		}, "position 4: previous hash"},
		{"changed hash", func() []events.Envelope {
			c := testChain(5)
			c[4].Hash = strings.Repeat("0", 64)
			return c
		}, "position 5: hash mismatch"},
		{"first event has a previous hash", func() []events.Envelope {
			c := testChain(3)
			events.Seal(&c[0], strings.Repeat("0", 64))
			return c
		}, "position 1: previous hash"},
		{"deleted first event", func() []events.Envelope { return testChain(5)[1:] }, "position 2, want 1"},
		{"deleted middle event", func() []events.Envelope {
			c := testChain(5)
			return append(c[:2:2], c[3:]...)
		}, "position 4, want 3"},
		{"deleted middle event, later positions renumbered", func() []events.Envelope {
			c := testChain(5)
			c = append(c[:2:2], c[3:]...)
			for i := 2; i < len(c); i++ {
				c[i].Position = uint64(i + 1)
			}
			return c
		}, "position 3: previous hash"},
		{"inserted event", func() []events.Envelope {
			c := testChain(5)
			forged := testEnvelope(3, c[1].Hash, func(e *events.Envelope) { e.ID = "forged" })
			return append(c[:2:2], append([]events.Envelope{forged}, c[2:]...)...)
		}, "position 3, want 4"},
		{"inserted event, later positions renumbered", func() []events.Envelope {
			c := testChain(5)
			forged := testEnvelope(3, c[1].Hash, func(e *events.Envelope) { e.ID = "forged" })
			c = append(c[:2:2], append([]events.Envelope{forged}, c[2:]...)...)
			for i := 3; i < len(c); i++ {
				c[i].Position = uint64(i + 1)
			}
			return c
		}, "position 4: previous hash"},
		{"two events swapped", func() []events.Envelope {
			c := testChain(5)
			c[1], c[2] = c[2], c[1]
			return c
		}, "position 3, want 2"},
		{"two events swapped, positions swapped back", func() []events.Envelope {
			c := testChain(5)
			c[1], c[2] = c[2], c[1]
			c[1].Position, c[2].Position = 2, 3
			return c
		}, "position 2: previous hash"},
		{"event of another ceremony", func() []events.Envelope {
			c := testChain(3)
			other := testEnvelope(3, c[1].Hash, func(e *events.Envelope) { e.CeremonyID = "bkg-2" })
			c[2].CeremonyID = other.CeremonyID
			return c
		}, "position 3: hash mismatch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := events.VerifyChain(c.evs())
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("VerifyChain of a valid chain: %v", err)
			case c.wantErr != "" && err == nil:
				t.Fatalf("VerifyChain found nothing; want an error with %q", c.wantErr)
			case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
				t.Fatalf("VerifyChain = %v; want an error with %q", err, c.wantErr)
			}
		})
	}
}
