package kinds

import (
	"reflect"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/engine"
)

// TestSummariesRoundTrip: the ceremonies part gives back every field,
// times with their zone offset (RFC 3339 prints the same), zero times
// zero, and any cut of it is an error, never a shorter list.
func TestSummariesRoundTrip(t *testing.T) {
	utc := time.Date(2026, 12, 2, 8, 0, 0, 123456789, time.UTC)
	east := time.Date(2026, 12, 2, 9, 30, 0, 5, time.FixedZone("", 5400))
	west := time.Date(1969, 7, 20, 20, 17, 40, 0, time.FixedZone("", -4*3600))
	in := []engine.CeremonySummary{
		{ID: "gen-1", Kind: "backup-key-generate", Phase: "completed", Started: utc, Updated: utc.Add(time.Minute), Events: 20, Ended: true},
		{ID: "gen-2", Kind: "backup-key-generate", Phase: "writing", Started: east, Updated: east, Events: 9, OpenStep: "insert card", Deadline: east.Add(time.Hour)},
		{ID: "ld-ü", Kind: "backup-key-load", Phase: "reading_paused", Started: west, Updated: west, Events: 1 << 40, OpenStep: "", Deadline: west},
		{ID: "", Kind: "", Phase: ""},
	}
	b := encodeSummaries(in)
	out, err := decodeSummaries(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d summaries back, want %d", len(out), len(in))
	}
	for i := range in {
		a, o := in[i], out[i]
		for _, p := range [][2]time.Time{{a.Started, o.Started}, {a.Updated, o.Updated}, {a.Deadline, o.Deadline}} {
			if !p[0].Equal(p[1]) || p[0].Format(time.RFC3339Nano) != p[1].Format(time.RFC3339Nano) || p[0].IsZero() != p[1].IsZero() {
				t.Errorf("summary %d: time %v came back as %v", i, p[0], p[1])
			}
		}
		a.Started, a.Updated, a.Deadline = time.Time{}, time.Time{}, time.Time{}
		o.Started, o.Updated, o.Deadline = time.Time{}, time.Time{}, time.Time{}
		if !reflect.DeepEqual(a, o) {
			t.Errorf("summary %d: %+v came back as %+v", i, a, o)
		}
	}
	for n := range len(b) {
		if got, err := decodeSummaries(b[:n]); err == nil {
			t.Fatalf("cut at %d of %d: decoded %d summaries, want an error", n, len(b), len(got))
		}
	}
	if _, err := decodeSummaries(nil); err == nil {
		t.Error("an empty part decoded")
	}
}
