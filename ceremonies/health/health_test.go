package health

import (
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/engine"
)

// TestOrphanedCeremony: a ceremony that is not ended and whose runner
// lease nobody holds is reported at once, before its step deadline; one
// with a runner, an ended one, or unknown lease state (nil) is not.
func TestOrphanedCeremony(t *testing.T) {
	now := time.Unix(1000, 0)
	list := []engine.CeremonySummary{
		{ID: "gen-killed", Phase: "writing", OpenStep: "write", Deadline: now.Add(time.Hour)},
		{ID: "gen-running", Phase: "writing", OpenStep: "write", Deadline: now.Add(time.Hour)},
		{ID: "gen-done", Phase: "completed", Ended: true},
	}
	running := map[string]bool{"gen-killed": false, "gen-running": true}
	tr := NewTracker(nil)
	var got []string
	for _, f := range tr.Findings(now, list, inventory.New(), running) {
		got = append(got, f.Subject+": "+f.What+" / "+f.Recovery)
	}
	if len(got) != 1 || !strings.HasPrefix(got[0], "ceremony gen-killed: no process is running it") ||
		!strings.Contains(got[0], "resume it") || !strings.Contains(got[0], "ceremony resume gen-killed") {
		t.Errorf("findings %q; want one naming gen-killed with no process running it and how to resume", got)
	}
	if fs := tr.Findings(now, list, inventory.New(), nil); len(fs) != 0 {
		t.Errorf("lease state unknown: findings %+v; want none", fs)
	}
}
