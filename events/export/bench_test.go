package export_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/export"
	"github.com/ceremony-hsm/ceremony/events/export/exporttest"
)

// BenchmarkExportMemory and BenchmarkVerifyMemory export and verify
// CEREMONY_BENCH_EVENTS events (default 1,000,000) in
// CEREMONY_BENCH_EXPORT_DIR, each in its own process so that
// /usr/bin/time -v reports each one's peak RSS: .ci/bench-export.sh.
// The events are made one at a time, as a store replay delivers them.
func BenchmarkExportMemory(b *testing.B) {
	dir, n := memBenchArgs(b)
	for range b.N {
		os.RemoveAll(dir)
		g := exporttest.NewGen()
		w, err := export.NewWriter(dir, export.Filter{}, "bench", time.Now(), exporttest.FixedSigner())
		if err != nil {
			b.Fatal(err)
		}
		for range n {
			if err := w.Add(g.Next(b)); err != nil {
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
		m, err := export.Verify(context.Background(), dir, exporttest.FixedSigner().Public())
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

// records makes n sealed events over ceremonies of 100 events each, as a
// store would return them.
func records(t testing.TB, n int) []events.Record {
	g := exporttest.NewGen()
	out := make([]events.Record, 0, n)
	for range n {
		out = append(out, g.Next(t))
	}
	return out
}

// BenchmarkExportVerify100k exports and verifies 100,000 events:
//
//	go test -run '^$' -bench ExportVerify -benchtime 3x ./events/export/
func BenchmarkExportVerify100k(b *testing.B) {
	const n = 100_000
	recs := records(b, n)
	s := exporttest.NewSigner(b)
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
	s := exporttest.NewSigner(t)
	dir := t.TempDir()
	m, err := export.Write(dir, recs, export.Filter{}, "test", time.Now(), s)
	if err != nil || m.Events != 1000 || len(m.Ceremonies) != 10 {
		t.Fatalf("write: %+v %v", m, err)
	}
	if _, err := export.Verify(context.Background(), dir, s.Public()); err != nil {
		t.Fatal(err)
	}
}
