package export_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/export"
)

type keySigner struct{ k ed25519.PrivateKey }

func (s keySigner) Public() ed25519.PublicKey     { return s.k.Public().(ed25519.PublicKey) }
func (s keySigner) Sign(m []byte) ([]byte, error) { return ed25519.Sign(s.k, m), nil }
func newSigner(t testing.TB) keySigner {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keySigner{k}
}

// recordGen makes sealed events over ceremonies of 100 events each, one
// at a time, as a store replay would deliver them.
type recordGen struct {
	raw  json.RawMessage
	v, i int
	prev string
}

func newRecordGen() *recordGen {
	_, v, raw, _ := kinds.Registry().Marshal(&events.CardPresented{Reader: "Emulated cyberJack e-com 00", ReaderClass: "host-pinpad", Serial: "FFFE00001001", Slot: 1})
	return &recordGen{raw: raw, v: v}
}

func (g *recordGen) next(t testing.TB) events.Record {
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

// BenchmarkExportMemory and BenchmarkVerifyMemory export and verify
// CEREMONY_BENCH_EVENTS events (default 1,000,000) in
// CEREMONY_BENCH_EXPORT_DIR, each in its own process so that
// /usr/bin/time -v reports each one's peak RSS: .ci/bench-export.sh.
// The events are made one at a time, as a store replay delivers them.
func BenchmarkExportMemory(b *testing.B) {
	dir, n := memBenchArgs(b)
	for range b.N {
		os.RemoveAll(dir)
		g := newRecordGen()
		w, err := export.NewWriter(dir, export.Filter{}, "bench", time.Now(), fixedSigner())
		if err != nil {
			b.Fatal(err)
		}
		for range n {
			if err := w.Add(g.next(b)); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkVerifyMemory(b *testing.B) {
	dir, n := memBenchArgs(b)
	for range b.N {
		m, err := export.Verify(context.Background(), dir, fixedSigner().Public())
		if err != nil || m.Events != n {
			b.Fatalf("verify %s: %v (run BenchmarkExportMemory first)", dir, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}

func memBenchArgs(b *testing.B) (string, int) {
	dir := os.Getenv("CEREMONY_BENCH_EXPORT_DIR")
	if dir == "" {
		b.Fatal("set CEREMONY_BENCH_EXPORT_DIR to a directory for the export (.ci/bench-export.sh does)")
	}
	n := 1_000_000
	if s := os.Getenv("CEREMONY_BENCH_EVENTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatalf("CEREMONY_BENCH_EVENTS=%q: %v", s, err)
		}
	}
	return dir, n
}

// fixedSigner has a key both processes derive alike.
func fixedSigner() keySigner {
	return keySigner{ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))}
}

// records makes n sealed events over ceremonies of 100 events each, as a
// store would return them.
func records(t testing.TB, n int) []events.Record {
	reg := kinds.Registry()
	_, v, raw, _ := reg.Marshal(&events.CardPresented{Reader: "Emulated cyberJack e-com 00", ReaderClass: "host-pinpad", Serial: "FFFE00001001", Slot: 1})
	out := make([]events.Record, 0, n)
	prev := map[string]string{}
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("gen-%05d", i/100)
		e := events.Envelope{ID: fmt.Sprintf("%032x", i), CeremonyID: id, Kind: "backup-key-generate", Type: "card.presented", Version: v,
			Position: uint64(i%100 + 1), Time: t0.Add(time.Duration(i) * time.Millisecond), Source: events.SourceReader, Payload: json.RawMessage(raw)}
		events.Seal(&e, prev[id])
		prev[id] = e.Hash
		data, err := events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, events.Record{Seq: uint64(i + 1), Data: data, Envelope: e})
	}
	return out
}

// BenchmarkExportVerify100k exports and verifies 100,000 events:
//
//	go test -run '^$' -bench ExportVerify -benchtime 3x ./events/export/
func BenchmarkExportVerify100k(b *testing.B) {
	const n = 100_000
	recs := records(b, n)
	s := newSigner(b)
	var exportTime, verifyTime time.Duration
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		start := time.Now()
		if _, err := export.Write(dir, recs, export.Filter{}, "bench", time.Now(), s); err != nil {
			b.Fatal(err)
		}
		exportTime += time.Since(start)
		start = time.Now()
		m, err := export.Verify(context.Background(), dir, s.Public())
		if err != nil || m.Events != n {
			b.Fatalf("verify: %v", err)
		}
		verifyTime += time.Since(start)
	}
	b.ReportMetric(float64(n*b.N)/exportTime.Seconds(), "exported-events/s")
	b.ReportMetric(float64(n*b.N)/verifyTime.Seconds(), "verified-events/s")
}

func TestExportVerifyRoundTrip(t *testing.T) {
	recs := records(t, 1000)
	s := newSigner(t)
	dir := t.TempDir()
	m, err := export.Write(dir, recs, export.Filter{}, "test", time.Now(), s)
	if err != nil || m.Events != 1000 || len(m.Ceremonies) != 10 {
		t.Fatalf("write: %+v %v", m, err)
	}
	if _, err := export.Verify(context.Background(), dir, s.Public()); err != nil {
		t.Fatal(err)
	}
}
