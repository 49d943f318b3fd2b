package sharecheck_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/sharecheck"
	"github.com/ceremony-hsm/ceremony/events"
)

// TestShareCheckAllCards: every custodian of a 2-of-3 set presents card
// and PIN in one session (one mistypes first); each share is matched to
// its commitment, the retry counters and the time are recorded, no key is
// rebuilt, no PIN is stored, and the session ends by itself once all
// three shares are verified.
func TestShareCheckAllCards(t *testing.T) {
	r := newRig(t)
	for _, n := range []string{"c1", "c2", "c3"} {
		r.NewCard(n)
	}
	set := r.KeySet()
	r.Clock.Advance(3 * 24 * time.Hour)
	wrong := pinpad.Entry{Kind: pinpad.PIN, PIN: "99999999"}
	inst := r.check("check-all", ceremonies.Params{"key-set": set, "verify-every": "180d"}, []string{"c3", "c1", "c2"},
		ok, r.PIN("c3"),
		ok, ok, wrong, r.PIN("c1"),
		ok, ok, r.PIN("c2"))
	if inst.Phase() != sharecheck.PhaseCompleted {
		t.Fatalf("phase %s, want completed", inst.Phase())
	}
	got := payloads[*sharecheck.ShareVerified](r, inst.ID())
	if len(got) != 3 {
		t.Fatalf("share_verified events: %+v", got)
	}
	want := map[string][3]int{r.Serial("c3"): {3, 3, 3}, r.Serial("c1"): {1, 2, 3}, r.Serial("c2"): {2, 3, 3}}
	for _, v := range got {
		w := want[v.Serial]
		if v.KeySetID != set || v.Index != w[0] || v.TriesBefore != w[1] || v.TriesLeft != w[2] || v.Of != 3 || v.DefaultPIN || v.Entry != "host" {
			t.Errorf("card %s: %+v, want share %d, tries %d then %d", v.Serial, v, w[0], w[1], w[2])
		}
	}
	// The ask was the first card only: the rest follow the operator's OK.
	if n := len(payloads[*events.PINRejected](r, inst.ID())); n != 1 {
		t.Errorf("pin_rejected events: %d, want 1", n)
	}
	for _, typ := range []string{"backupkey.key_reconstructed", "backupkey.share_accepted"} {
		for _, ty := range r.Types(inst.ID()) {
			if ty == typ {
				t.Errorf("a share check recorded %s: it must never rebuild a key", typ)
			}
		}
	}
	fin := payloads[*sharecheck.Finished](r, inst.ID())
	if len(fin) != 1 || fin[0].Verified != 3 || !strings.Contains(fin[0].Reason, "every share") {
		t.Fatalf("finished: %+v", fin)
	}
	for _, n := range []string{"c1", "c2", "c3"} {
		c, _ := r.Views.Inventory.Card(r.Serial(n))
		if !c.LastVerified.Equal(r.Clock.Now()) || c.VerifiedTries != 3 {
			t.Errorf("registry for %s: last verified %v tries %d, want %v and 3", n, c.LastVerified, c.VerifiedTries, r.Clock.Now())
		}
	}
	ks, _ := r.Views.Inventory.KeySet(set)
	if ks.VerifyEvery != 180*sharecheck.Day {
		t.Errorf("key set policy %v, want 180 days", ks.VerifyEvery)
	}
	rows, err := sharecheck.ShareCheck().Facts(inst)
	if err != nil {
		t.Fatal(err)
	}
	facts := ""
	for _, row := range rows {
		facts += row.Name + ": " + row.Value + "\n"
	}
	for _, w := range []string{"shares verified: 3 of 3 (threshold 2): 1, 2, 3", "policy: verify every card at least every 180 days (set by carol)",
		"card " + r.Serial("c1") + ": share 1 of 3 verified against its commitment; PW3 tries 2 before, 3 after"} {
		if !strings.Contains(facts, w) {
			t.Errorf("summary lacks %q:\n%s", w, facts)
		}
	}
	if f := r.Findings(); strings.Contains(f, "overdue") || strings.Contains(f, "critical") {
		t.Errorf("findings right after a full check:\n%s", f)
	}
	r.ScanStore()
}

// TestShareCheckSubsetOverTwoSessionsAndOverdue: custodians come on
// different days; a foreign (empty) card is refused and recorded; the
// health policy turns a card not verified within 180 days into a finding
// and the set critical once its verified and usable shares fall to k.
func TestShareCheckSubsetOverTwoSessionsAndOverdue(t *testing.T) {
	r := newRig(t)
	for _, n := range []string{"c1", "c2", "c3", "blank"} {
		r.NewCard(n)
	}
	set := r.KeySet()
	// Day 0: the policy is set; only c1's custodian comes, then a blank card.
	s1 := r.check("check-1", ceremonies.Params{"key-set": set, "verify-every": "180d"}, []string{"c1", "blank"},
		ok, r.PIN("c1"), ok, ok, r.PIN("blank"), cancelKey)
	if s1.Phase() != sharecheck.PhaseCompleted {
		t.Fatalf("session 1 phase %s", s1.Phase())
	}
	refused := payloads[*events.CardRefused](r, s1.ID())
	if len(refused) != 1 || refused[0].Serial != r.Serial("blank") || refused[0].Code != ceremonies.RefusedEmpty {
		t.Fatalf("refusals in session 1: %+v", refused)
	}
	// Day 100: c2's custodian; the first card names the set (no --key-set).
	r.Clock.Advance(100 * sharecheck.Day)
	s2 := r.check("check-2", ceremonies.Params{}, []string{"c2"}, ok, r.PIN("c2"), cancelKey)
	if v := payloads[*sharecheck.ShareVerified](r, s2.ID()); len(v) != 1 || v[0].KeySetID != set || v[0].Index != 2 {
		t.Fatalf("session 2 verified: %+v", v)
	}
	rows, _ := sharecheck.ShareCheck().Facts(s2)
	if !hasRow(rows, "not checked in this session", "shares 1, 3") {
		t.Errorf("session 2 summary: %+v", rows)
	}
	if f := r.Findings(); strings.Contains(f, "overdue") || strings.Contains(f, "only") {
		t.Fatalf("day 100, every card within the policy, findings:\n%s", f)
	}
	// Day 181: c1 (verified day 0) and c3 (never, policy since day 0) are
	// overdue; only share 2 is verified and usable, below k = 2: critical.
	r.Clock.Advance(81 * sharecheck.Day)
	f := r.Findings()
	for _, w := range []string{
		"warning | card " + r.Serial("c1") + " | overdue for a share check: share 1 of key set " + set + ", last verified 2025-06-02; the policy is every 180 days",
		"warning | card " + r.Serial("c3") + " | overdue for a share check: share 3 of key set " + set + ", never verified since the policy was set on 2025-06-02",
		"critical | key set " + set + " | only 1 distinct shares are on cards verified within the policy (every 180 days) and usable, for a threshold of 2",
	} {
		if !strings.Contains(f, w) {
			t.Errorf("missing finding %q in:\n%s", w, f)
		}
	}
	if strings.Contains(f, "card "+r.Serial("c2")+" | overdue") {
		t.Errorf("c2, verified on day 100, is reported overdue:\n%s", f)
	}
	// c3's custodian comes: two verified usable shares is still k: critical.
	r.check("check-3", ceremonies.Params{"key-set": set}, []string{"c3"}, ok, r.PIN("c3"), cancelKey)
	f = r.Findings()
	if !strings.Contains(f, "critical | key set "+set+" | only 2 distinct shares") || strings.Contains(f, "card "+r.Serial("c3")+" | overdue") {
		t.Errorf("after c3's check:\n%s", f)
	}
	r.check("check-4", ceremonies.Params{"key-set": set}, []string{"c1"}, ok, r.PIN("c1"), cancelKey)
	if f := r.Findings(); strings.Contains(f, "overdue") || strings.Contains(f, "critical") {
		t.Errorf("after every card is verified again:\n%s", f)
	}
	r.ScanStore()
}

func TestShareCheckParams(t *testing.T) {
	k := sharecheck.ShareCheck()
	for _, c := range []struct {
		params ceremonies.Params
		want   string
	}{
		{ceremonies.Params{"verify-every": "180d"}, "--verify-every needs --key-set"},
		{ceremonies.Params{"key-set": "ab", "verify-every": "6 months"}, `--verify-every "6 months": give a number of days with a d`},
		{ceremonies.Params{"key-set": "ab", "verify-every": "180"}, "give a number of days with a d"},
	} {
		err := k.Start.Check(c.params)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check(%v) = %v, want %q", c.params, err, c.want)
		}
	}
	r := newRig(t)
	_, err := k.Start.Begin(ceremonies.Params{"key-set": "feedbeef"}, ceremonies.StartInfo{Operator: "carol", Inventory: r.Views.Inventory})
	if err == nil || !strings.Contains(err.Error(), "--key-set feedbeef: no such key set") {
		t.Errorf("Begin with an unknown key set: %v", err)
	}
}

func hasRow(rows []ceremonies.Row, name, value string) bool {
	for _, r := range rows {
		if r.Name == name && r.Value == value {
			return true
		}
	}
	return false
}
