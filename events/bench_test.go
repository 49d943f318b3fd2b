package events_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/events"
)

// The per-event costs of a rebuild on the reading side (engine/bench_test.go
// BenchmarkRebuild measures the whole against raw JetStream):
//
//	go test -run '^$' -bench 'Decode' -benchmem ./events/

// benchEvent is the stored form of a typical card observation, as the
// engine's rebuild benchmark writes it.
func benchEvent(b *testing.B) []byte {
	b.Helper()
	reg := kinds.Registry()
	typ, version, raw, err := reg.Marshal(&events.CardPresented{Reader: "Emulated cyberJack e-com 00", ReaderClass: "host-pinpad", Serial: "FFFE00001001", Slot: 1})
	if err != nil {
		b.Fatal(err)
	}
	e := events.Envelope{ID: "0d4c9f8e-6b1a-4f6e-9d7c-2a9b8e7f6c5d", CeremonyID: "bench-rebuild", Kind: "backup-key-generate", Type: typ, Version: version,
		Position: 500, Time: time.Date(2026, 11, 27, 12, 0, 0, 123456000, time.UTC), Source: events.SourceReader,
		CausationID: "1d4c9f8e-6b1a-4f6e-9d7c-2a9b8e7f6c5d", Payload: raw}
	events.Seal(&e, "a3f1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80")
	data, err := events.Encode(e)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkDecode: the envelope, strictly, with its hash checked.
func BenchmarkDecode(b *testing.B) {
	data := benchEvent(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodePayload: the typed payload of a decoded envelope.
func BenchmarkDecodePayload(b *testing.B) {
	e, err := events.Decode(benchEvent(b))
	if err != nil {
		b.Fatal(err)
	}
	reg := kinds.Registry()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.DecodePayload(e); err != nil {
			b.Fatal(err)
		}
	}
}

// benchChain is a ceremony's run of n card observations, stored form, as
// a read hands them over (each causation id the previous id, each
// previous hash the previous hash).
func benchChain(b *testing.B, n int) [][]byte {
	b.Helper()
	first, err := events.Decode(benchEvent(b))
	if err != nil {
		b.Fatal(err)
	}
	out := make([][]byte, 0, n)
	prev := first
	for i := range n {
		e := prev
		e.ID = fmt.Sprintf("0d4c9f8e-6b1a-4f6e-9d7c-%012d", i)
		e.CausationID, e.Position = prev.ID, prev.Position+1
		e.Time = prev.Time.Add(time.Millisecond)
		events.Seal(&e, prev.Hash)
		data, err := events.Encode(e)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, data)
		prev = e
	}
	return out
}

// BenchmarkDecoder: a ceremony's events decoded in order by one Decoder
// (per event), as a store's read does.
func BenchmarkDecoder(b *testing.B) {
	chain := benchChain(b, 1000)
	b.ReportAllocs()
	for b.Loop() {
		var dec events.Decoder
		for _, data := range chain {
			if _, err := dec.Decode(data); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(chain)), "ns/event")
}
