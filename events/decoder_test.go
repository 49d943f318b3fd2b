package events_test

import (
	"bytes"
	"reflect"
	"testing"
	"unsafe"

	"github.com/ceremony-hsm/ceremony/events"
)

// decoderInputs is a read's worth of stored bytes: one ceremony's chain,
// an event of another ceremony in between, events the strict decoder
// takes (non-ASCII text), events without a causation id, and refused
// bytes (altered, truncated, empty, not canonical) before the chain goes
// on.
func decoderInputs(t *testing.T) [][]byte {
	t.Helper()
	enc := func(e events.Envelope) []byte {
		b, err := events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	chain := testChain(6)
	other := testEnvelope(1, "", func(e *events.Envelope) { e.CeremonyID, e.ID, e.CausationID = "bkg-2", "evt-x", "" })
	accented := testEnvelope(4, chain[2].Hash, func(e *events.Envelope) { e.ID, e.Kind = "évt-0004", "clé-de-secours" })
	noCause := testEnvelope(5, chain[3].Hash, func(e *events.Envelope) { e.CausationID = "" })
	altered := enc(chain[4])
	altered[len(altered)-3] ^= 1 // a hash digit
	// The strict decoder takes "a\u003cb" (canonical); the same kind
	// written "a<b" after it is not canonical, though its hash matches.
	escaped := testEnvelope(6, chain[4].Hash, func(e *events.Envelope) { e.Kind = "a<b" })
	unescaped := bytes.Replace(enc(testEnvelope(7, escaped.Hash, func(e *events.Envelope) { e.Kind = "a<b" })), []byte(`\u003c`), []byte("<"), 1)
	return [][]byte{
		enc(chain[0]), enc(chain[1]), enc(other), enc(chain[2]), enc(accented), enc(chain[3]), enc(noCause),
		altered, enc(chain[4]), enc(chain[4])[:40], {}, enc(chain[5]), append(enc(chain[5]), '\n'), enc(chain[0]),
		enc(escaped), unescaped, enc(chain[5]),
	}
}

// TestDecoderIsDecode: a Decoder gives, event after event, exactly what
// Decode gives for each (the same envelope, the same error), including
// after an event it refused.
func TestDecoderIsDecode(t *testing.T) {
	var dec events.Decoder
	for i, b := range decoderInputs(t) {
		got, gotErr := dec.Decode(b)
		want, wantErr := events.Decode(b)
		if !reflect.DeepEqual(got, want) || (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Errorf("input %d: Decoder.Decode = %+v, %v\nDecode = %+v, %v", i, got, gotErr, want, wantErr)
		}
	}
}

// TestDecoderSharesStrings: the next event of a ceremony shares the
// strings it repeats of the one before instead of copying them.
func TestDecoderSharesStrings(t *testing.T) {
	in := decoderInputs(t)
	var dec events.Decoder
	first, err := dec.Decode(in[0])
	if err != nil {
		t.Fatal(err)
	}
	second, err := dec.Decode(in[1])
	if err != nil {
		t.Fatal(err)
	}
	same := func(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }
	for _, c := range []struct {
		name       string
		prev, next string
	}{
		{"ceremony id", first.CeremonyID, second.CeremonyID},
		{"kind", first.Kind, second.Kind},
		{"type", first.Type, second.Type},
		{"source", string(first.Source), string(second.Source)},
		{"causation id (the previous id)", first.ID, second.CausationID},
		{"previous hash (the previous hash)", first.Hash, second.PrevHash},
	} {
		if c.prev != c.next || !same(c.prev, c.next) {
			t.Errorf("%s: %q is not the previous event's string %q", c.name, c.next, c.prev)
		}
	}
	if same(first.ID, second.ID) || same(first.Hash, second.Hash) {
		t.Errorf("the second event's own id and hash share the first's memory")
	}
}

// FuzzDecoderIsDecode: for any two inputs in turn, a Decoder gives what
// Decode gives for each.
func FuzzDecoderIsDecode(f *testing.F) {
	lines := readGoldenLines(f)
	for i := 1; i < len(lines) && i < 40; i++ {
		f.Add(lines[i-1], lines[i])
	}
	f.Add(lines[0], []byte(`{}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var dec events.Decoder
		for _, in := range [][]byte{a, b} {
			got, gotErr := dec.Decode(in)
			want, wantErr := events.Decode(in)
			if !reflect.DeepEqual(got, want) || (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
				t.Fatalf("Decoder.Decode(%q) = %+v, %v\nDecode = %+v, %v", in, got, gotErr, want, wantErr)
			}
		}
	})
}
