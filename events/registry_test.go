package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/events"
)

// payloadEnvelope returns an envelope of typ at version with raw as its
// payload; DecodePayload needs no hash, so it is not sealed.
func payloadEnvelope(typ string, version int, raw string) events.Envelope {
	return events.Envelope{
		ID: "evt-1", CeremonyID: "bkg-1", Kind: "backup-key-generate", Type: typ, Version: version,
		Position: 1, Time: testTime, Source: events.SourceReader, Payload: json.RawMessage(raw),
	}
}

func TestDecodePayloadRefuses(t *testing.T) {
	cases := []struct {
		name    string
		typ     string
		version int
		raw     string
		want    error
	}{
		{"unknown type", "card.teleported", 1, `{}`, events.ErrUnknownType},
		{"empty type", "", 1, `{}`, events.ErrUnknownType},
		{"version 0", "card.removed", 0, `{}`, events.ErrUnknownVersion},
		{"negative version", "card.removed", -1, `{}`, events.ErrUnknownVersion},
		{"version above current (v1 type)", "card.removed", 2, `{}`, events.ErrUnknownVersion},
		{"version above current (v2 type)", "card.presented", 3, `{"reader":"r","reader_class":"unknown","serial":"s","slot":1}`, events.ErrUnknownVersion},
		{"unknown payload field", "card.removed", 1, `{"reader":"r","serial":"s","pin":"123456"}`, events.ErrMalformed},
		{"unknown payload field after upcast", "card.presented", 1, `{"reader":"r","serial":"s","slot":1,"colour":"red"}`, events.ErrMalformed},
		{"wrong field type", "card.presented", 2, `{"slot":"first"}`, events.ErrMalformed},
		{"payload is an array", "card.removed", 1, `[]`, events.ErrMalformed},
		{"payload is a string", "card.removed", 1, `"card"`, events.ErrMalformed},
		{"trailing data in the payload", "card.removed", 1, `{"reader":"r"}{}`, events.ErrMalformed},
		{"trailing brace in the payload", "card.removed", 1, `{"reader":"r"}}`, events.ErrMalformed},
		{"v1 payload null (upcaster input)", "card.presented", 1, `null`, events.ErrMalformed},
		{"v1 payload not an object (upcaster input)", "card.presented", 1, `[1]`, events.ErrMalformed},
		{"bad time in a payload", "step.deadline_set", 1, `{"step":"s","deadline":"yesterday"}`, events.ErrMalformed},
	}
	reg := kinds.Registry()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := reg.DecodePayload(payloadEnvelope(c.typ, c.version, c.raw))
			if !errors.Is(err, c.want) {
				t.Fatalf("DecodePayload = %#v, %v; want an error wrapping %q", p, err, c.want)
			}
		})
	}
}

func TestUpcastCardPresentedV1(t *testing.T) {
	reg := kinds.Registry()
	if v, err := reg.CurrentVersion("card.presented"); err != nil || v != 2 {
		t.Fatalf("CurrentVersion(card.presented) = %d, %v; want 2", v, err)
	}
	cases := []struct {
		name    string
		version int
		raw     string
		want    events.CardPresented
	}{
		{"v1 gets reader_class unknown", 1, `{"reader":"Virtual PCD 00 00","serial":"000500001234","slot":2}`,
			events.CardPresented{Reader: "Virtual PCD 00 00", ReaderClass: "unknown", Serial: "000500001234", Slot: 2}},
		{"v1 empty object", 1, `{}`, events.CardPresented{ReaderClass: "unknown"}},
		{"v2 is read as stored", 2, `{"reader":"cyberJack","reader_class":"class3-pinpad","serial":"000500001234","slot":1}`,
			events.CardPresented{Reader: "cyberJack", ReaderClass: "class3-pinpad", Serial: "000500001234", Slot: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := testEnvelope(1, "", func(e *events.Envelope) {
				e.Type, e.Version, e.Payload = "card.presented", c.version, json.RawMessage(c.raw)
			})
			stored, err := events.Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			e, err = events.Decode(stored)
			if err != nil {
				t.Fatal(err)
			}
			before := append([]byte(nil), e.Payload...)
			p, err := reg.DecodePayload(e)
			if err != nil {
				t.Fatalf("DecodePayload: %v", err)
			}
			got, ok := p.(*events.CardPresented)
			if !ok {
				t.Fatalf("DecodePayload returned %T, want *events.CardPresented", p)
			}
			if *got != c.want {
				t.Errorf("payload = %+v, want %+v", *got, c.want)
			}
			// The stored event is never rewritten: same version, same bytes,
			// and it still encodes to what was stored.
			if e.Version != c.version {
				t.Errorf("envelope version changed to %d, want %d", e.Version, c.version)
			}
			if !bytes.Equal(e.Payload, before) || string(e.Payload) != c.raw {
				t.Errorf("envelope payload changed to %s, want %s", e.Payload, c.raw)
			}
			again, err := events.Encode(e)
			if err != nil || !bytes.Equal(again, stored) {
				t.Errorf("Encode after DecodePayload = %s, %v; want the stored bytes %s", again, err, stored)
			}
		})
	}
}

func TestUpcasterChainAndMissingStep(t *testing.T) {
	// A v3 type with upcasters 1->2 and 2->3 applies both, in order; a
	// missing step is an unknown version, not a silent zero value.
	reg := events.NewRegistry()
	reg.Register(3, func() events.Payload { return &threeStep{} })
	reg.RegisterUpcaster("test.three", 1, func(old json.RawMessage) (json.RawMessage, error) {
		return json.RawMessage(strings.Replace(string(old), `"a"`, `"b"`, 1)), nil
	})
	reg.RegisterUpcaster("test.three", 2, func(old json.RawMessage) (json.RawMessage, error) {
		return json.RawMessage(strings.Replace(string(old), `"b"`, `"c"`, 1)), nil
	})
	p, err := reg.DecodePayload(payloadEnvelope("test.three", 1, `{"a":7}`))
	if err != nil {
		t.Fatalf("DecodePayload v1: %v", err)
	}
	if got := p.(*threeStep).C; got != 7 {
		t.Errorf("v1 upcast twice: c = %d, want 7", got)
	}

	gap := events.NewRegistry()
	gap.Register(3, func() events.Payload { return &threeStep{} })
	gap.RegisterUpcaster("test.three", 2, func(old json.RawMessage) (json.RawMessage, error) { return old, nil })
	if _, err := gap.DecodePayload(payloadEnvelope("test.three", 1, `{"a":7}`)); !errors.Is(err, events.ErrUnknownVersion) {
		t.Errorf("DecodePayload with no upcaster from v1: %v, want ErrUnknownVersion", err)
	}
	failing := events.NewRegistry()
	failing.Register(2, func() events.Payload { return &threeStep{} })
	boom := errors.New("boom")
	failing.RegisterUpcaster("test.three", 1, func(json.RawMessage) (json.RawMessage, error) { return nil, boom })
	if _, err := failing.DecodePayload(payloadEnvelope("test.three", 1, `{}`)); !errors.Is(err, boom) {
		t.Errorf("DecodePayload with a failing upcaster: %v, want it wrapped", err)
	}
}

type threeStep struct {
	C int `json:"c"`
}

func (threeStep) EventType() string { return "test.three" }

type unregistered struct{}

func (unregistered) EventType() string { return "test.unregistered" }

// TestRegistryRoundTripsZeroPayloads: the zero payload of every type the
// kinds declare survives the registry and the codec.
func TestRegistryRoundTripsZeroPayloads(t *testing.T) {
	reg := kinds.Registry()
	for _, typ := range reg.Types() {
		zero, ok := reg.Zero(typ)
		if !ok {
			t.Fatalf("Zero(%q) of a listed type", typ)
		}
		t.Run(typ, func(t *testing.T) {
			typ, version, raw, err := reg.Marshal(zero)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			current, err := reg.CurrentVersion(typ)
			if err != nil || typ != zero.EventType() || version != current {
				t.Fatalf("Marshal = %q version %d; want %q at current version %d (%v)", typ, version, zero.EventType(), current, err)
			}
			// Through the full codec, as the engine stores it.
			e := testEnvelope(1, "", func(e *events.Envelope) { e.Type, e.Version, e.Payload = typ, version, raw })
			b, err := events.Encode(e)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			d, err := events.Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			got, err := reg.DecodePayload(d)
			if err != nil {
				t.Fatalf("DecodePayload(%s): %v", raw, err)
			}
			if !reflect.DeepEqual(got, zero) {
				t.Errorf("DecodePayload = %#v, want %#v", got, zero)
			}
		})
	}
}

func TestDecodePayloadFilledValues(t *testing.T) {
	// Non-zero values survive too, including nested slices and times.
	reg := kinds.Registry()
	deadline := time.Date(2025, 3, 14, 9, 32, 0, 5, time.UTC)
	cases := []events.Payload{
		&events.KeyGenerated{KeySetID: "00112233445566778899aabbccddeeff", Threshold: 2, Shares: 3, KCV: "a1b2c3",
			Commitments: []events.ShareCommitment{{Index: 1, Commitment: strings.Repeat("1", 64)}, {Index: 2, Commitment: strings.Repeat("2", 64)}}},
		&events.StepTimedOut{Step: "insert card 2", Deadline: deadline},
		&events.KeySetVoided{KeySetID: "k", Written: []string{"000500001234"}, Reason: "stopped"},
		&events.CeremonyResumed{Phase: "writing", Redo: []string{"read 2 cards again"}},
		&events.PINVerified{Serial: "000500001234", PIN: "PW3", DefaultPIN: true},
	}
	for _, want := range cases {
		t.Run(want.EventType(), func(t *testing.T) {
			typ, version, raw, err := reg.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := reg.DecodePayload(payloadEnvelope(typ, version, string(raw)))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("DecodePayload = %#v, want %#v", got, want)
			}
		})
	}
}

func TestMarshalUnknownType(t *testing.T) {
	_, _, _, err := kinds.Registry().Marshal(unregistered{})
	if !errors.Is(err, events.ErrUnknownType) {
		t.Errorf("Marshal of an unregistered type: %v, want ErrUnknownType", err)
	}
	if _, err := kinds.Registry().CurrentVersion("test.unregistered"); !errors.Is(err, events.ErrUnknownType) {
		t.Errorf("CurrentVersion of an unregistered type: %v, want ErrUnknownType", err)
	}
}

func TestRegistryPanicsOnProgrammingErrors(t *testing.T) {
	cases := []struct {
		name string
		fn   func()
		want string
	}{
		{"duplicate type", func() {
			r := events.NewRegistry()
			r.Register(1, func() events.Payload { return &events.CardRemoved{} })
			r.Register(2, func() events.Payload { return &events.CardRemoved{} })
		}, "card.removed"},
		{"duplicate in the default registry", func() {
			kinds.Registry().Register(1, func() events.Payload { return &events.CardPresented{} })
		}, "card.presented"},
		{"version 0", func() {
			events.NewRegistry().Register(0, func() events.Payload { return &events.CardRemoved{} })
		}, "card.removed"},
		{"upcaster for an unregistered type", func() {
			events.NewRegistry().RegisterUpcaster("card.removed", 1, func(b json.RawMessage) (json.RawMessage, error) { return b, nil })
		}, "card.removed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("no panic")
				}
				if msg, _ := r.(string); !strings.Contains(msg, c.want) {
					t.Errorf("panic %v does not name %q", r, c.want)
				}
			}()
			c.fn()
		})
	}
}

func TestUpcastPINEntryV1(t *testing.T) {
	reg := kinds.Registry()
	cases := []struct {
		typ, raw string
		check    func(events.Payload) bool
	}{
		{"card.pin_verified", `{"serial":"s","pin":"PW3","default_pin":true}`, func(p events.Payload) bool {
			v := p.(*events.PINVerified)
			return v.Entry == "host" && v.DefaultPIN && v.PIN == "PW3"
		}},
		{"card.pin_rejected", `{"serial":"s","pin":"PW1","tries_left":2}`, func(p events.Payload) bool {
			v := p.(*events.PINRejected)
			return v.Entry == "host" && v.TriesLeft == 2
		}},
		{"pin.change_requested", `{"serial":"s","pin":"PW3"}`, func(p events.Payload) bool {
			v := p.(*events.PINChangeRequested)
			return v.Entry == "host" && v.PIN == "PW3"
		}},
		{"pin.changed", `{"serial":"s","pin":"PW1"}`, func(p events.Payload) bool {
			v := p.(*events.PINChanged)
			return v.Entry == "host" && v.PIN == "PW1"
		}},
	}
	// card.pin_verified and card.pin_rejected are at version 3 (by, who
	// entered the PIN: TestUpcastByUnknown); v1 goes up through both.
	current := map[string]int{"card.pin_verified": 3, "card.pin_rejected": 3}
	for _, c := range cases {
		want := 2
		if v, ok := current[c.typ]; ok {
			want = v
		}
		if v, _ := reg.CurrentVersion(c.typ); v != want {
			t.Fatalf("%s is at version %d, want %d", c.typ, v, want)
		}
		e := testEnvelope(1, "", func(e *events.Envelope) { e.Type, e.Version, e.Payload = c.typ, 1, json.RawMessage(c.raw) })
		p, err := reg.DecodePayload(e)
		if err != nil || !c.check(p) {
			t.Errorf("%s v1: %+v, %v", c.typ, p, err)
		}
		e.Payload = json.RawMessage(`null`)
		if _, err := reg.DecodePayload(e); !errors.Is(err, events.ErrMalformed) {
			t.Errorf("%s v1 null payload: %v", c.typ, err)
		}
	}
}

// TestEveryPayloadTypeHasAPlan: every declared payload type takes the
// fast codec, and it writes what json.Marshal writes.
func TestEveryPayloadTypeHasAPlan(t *testing.T) {
	reg := kinds.Registry()
	for _, typ := range reg.Types() {
		if !events.HasPlan(reg, typ) {
			t.Errorf("%s has no plan: a field kind payloadcodec.go does not handle", typ)
		}
		zero, _ := reg.Zero(typ)
		_, _, raw, err := reg.Marshal(zero)
		want, jerr := json.Marshal(zero)
		if err != nil || jerr != nil || string(raw) != string(want) {
			t.Errorf("%s: Marshal = %s (%v), json.Marshal = %s (%v)", typ, raw, err, want, jerr)
		}
	}
}

// TestUpcastByUnknown: the events of a person's action that did not
// record who acted (PIN entries v2, start and read confirmations v1,
// overwrite confirmations v2) decode with by "" (unknown), never a name.
func TestUpcastByUnknown(t *testing.T) {
	reg := kinds.Registry()
	cases := []struct {
		typ     string
		version int
		raw     string
		current int
		by      func(events.Payload) string
	}{
		{"card.pin_verified", 2, `{"serial":"s","pin":"PW3","default_pin":false,"entry":"reader"}`, 3, func(p events.Payload) string { return p.(*events.PINVerified).By }},
		{"card.pin_rejected", 2, `{"serial":"s","pin":"PW3","tries_left":1,"entry":"host"}`, 3, func(p events.Payload) string { return p.(*events.PINRejected).By }},
		{"backupkey.write_confirmed", 1, `{}`, 2, func(p events.Payload) string { return p.(*events.WriteConfirmed).By }},
		{"backupkey.read_confirmed", 1, `{}`, 2, func(p events.Payload) string { return p.(*events.ReadConfirmed).By }},
		{"backupkey.overwrite_confirmed", 2, `{"serial":"s","previous_key_set_id":"k","previous_index":1,"previous_kcv":"abcdef","live":true,"foreign":false}`, 3,
			func(p events.Payload) string { return p.(*events.OverwriteConfirmed).By }},
	}
	for _, c := range cases {
		if v, _ := reg.CurrentVersion(c.typ); v != c.current {
			t.Errorf("%s is at version %d, want %d", c.typ, v, c.current)
			continue
		}
		e := testEnvelope(1, "", func(e *events.Envelope) { e.Type, e.Version, e.Payload = c.typ, c.version, json.RawMessage(c.raw) })
		p, err := reg.DecodePayload(e)
		if err != nil {
			t.Errorf("%s v%d: %v", c.typ, c.version, err)
			continue
		}
		if by := c.by(p); by != "" {
			t.Errorf("%s v%d upcast with by %q, want \"\"", c.typ, c.version, by)
		}
	}
}
