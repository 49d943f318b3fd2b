// Package health derives the open findings from the events: side effects
// with no recorded outcome, ceremonies past a step deadline, key sets with
// too few usable shares, blocked and default-PIN cards, void and
// superseded sets, and an HSM holding another Backup Key than the newest
// live set (ARCHITECTURE.md, "Ceremony semantics").
//
// Rules a caller must know:
//   - Tracker follows every stored event (engine.Projection) and knows
//     which effects each kind asks for (ceremonies.Kind.Effects). A finding
//     stays open until an event resolves it.
//   - Findings reads the inventory and the ceremony list at the time given;
//     it changes nothing.
package health

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Finding severities.
const (
	Critical = "critical"
	Warning  = "warning"
	Info     = "info"
)

// Finding is one inconsistency or risk the events show, with what it
// affects and what to do.
type Finding struct {
	Severity string `json:"severity"`
	Subject  string `json:"subject"` // "ceremony X", "card S", "key set K", "HSM H"
	What     string `json:"what"`
	Recovery string `json:"recovery"`
}

// pending is an effect asked for and not answered yet.
type pending struct {
	what, recovery string
	endedIsAnswer  bool
}

// Tracker follows the side effects of every ceremony.
type Tracker struct {
	effects map[string][]ceremonies.Effect // kind -> its effects

	mu      sync.Mutex
	pending map[string]map[string]pending // ceremony -> effect key -> pending
}

// NewTracker returns a tracker for the effects of kinds.
func NewTracker(kinds []ceremonies.Kind) *Tracker {
	t := &Tracker{effects: map[string][]ceremonies.Effect{}, pending: map[string]map[string]pending{}}
	for _, k := range kinds {
		t.effects[k.Name()] = k.Effects
	}
	return t
}

// Apply folds one stored event.
func (t *Tracker) Apply(env events.Envelope, p events.Payload) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := env.CeremonyID
	switch p.(type) {
	case *events.CeremonyFailed, *events.CeremonyAborted:
		// An ended ceremony's open effects stay open (what happened on the
		// card or HSM is still unknown), unless its kind says otherwise.
		for k, pe := range t.pending[c] {
			if pe.endedIsAnswer {
				delete(t.pending[c], k)
			}
		}
		return
	}
	for _, ef := range t.effects[env.Kind] {
		key := ef.Asked + " " + ef.Key(p)
		if env.Type == ef.Asked {
			if t.pending[c] == nil {
				t.pending[c] = map[string]pending{}
			}
			t.pending[c][key] = pending{what: ef.What(p), recovery: strings.ReplaceAll(ef.Recovery, "{ceremony}", c), endedIsAnswer: ef.EndedIsAnswer}
			continue
		}
		for _, a := range ef.Answered {
			if env.Type == a {
				delete(t.pending[c], key)
			}
		}
	}
}

// Findings returns the open findings at time now, most severe first.
// running is the lease state read by the caller: for each ceremony that
// is not ended, whether a process holds its runner lease
// (engine.RunnerLease). A ceremony without one has no process running
// it. A nil running says the lease state is unknown: no such finding.
func (t *Tracker) Findings(now time.Time, list []engine.CeremonySummary, inv *inventory.Inventory, running map[string]bool) []Finding {
	var out []Finding
	add := func(sev, subject, what, recovery string) {
		out = append(out, Finding{Severity: sev, Subject: subject, What: what, Recovery: recovery})
	}
	t.mu.Lock()
	for c, effects := range t.pending {
		for _, p := range effects {
			add(Warning, "ceremony "+c, p.what, p.recovery)
		}
	}
	t.mu.Unlock()

	for _, s := range list {
		if !s.Ended && running != nil && !running[s.ID] {
			add(Warning, "ceremony "+s.ID, fmt.Sprintf("no process is running it (phase %s): resume it", s.Phase),
				fmt.Sprintf("resume ceremony %s (ceremony resume %s --operator NAME) or abort it", s.ID, s.ID))
			continue
		}
		if !s.Ended && s.OpenStep != "" && now.After(s.Deadline) {
			add(Warning, "ceremony "+s.ID, fmt.Sprintf("no event since the deadline of step %q (%s) passed", s.OpenStep, s.Deadline.Format(time.RFC3339)),
				fmt.Sprintf("resume ceremony %s (it pauses and asks to retry) or abort it", s.ID))
		}
	}

	blocked := map[string]bool{}
	for _, c := range inv.Cards() {
		if c.Blocked["PW3"] {
			blocked[c.Serial] = true
			recovery := "it holds no share: reset it (factory state) before using it again, or set it aside"
			if c.KeySetID != "" {
				recovery = fmt.Sprintf("count it out of key set %s's quorum; copy share %d from another card that holds it to a spare card (ceremony copy)", c.KeySetID, c.ShareIndex)
			}
			add(Warning, "card "+c.Serial, "its backup PIN (PW3) is blocked: the card is unavailable", recovery)
		}
		for pin, def := range c.DefaultPIN {
			if def && !c.Blocked[pin] { // a blocked PIN cannot be changed
				add(Warning, "card "+c.Serial, fmt.Sprintf("still on the factory default PIN (%s)", pin), "change it: ceremony pin change --slot "+map[string]string{"PW3": "backup", "PW1": "user"}[pin])
			}
		}
		if c.Void {
			add(Info, "card "+c.Serial, fmt.Sprintf("holds share %d of the void key set %s", c.ShareIndex, c.KeySetID), "a new generate may overwrite it without confirmation")
		}
		for _, what := range c.Conflicts {
			add(Warning, "card "+c.Serial, fmt.Sprintf("two cards claim serial %s: %s", c.Serial, what),
				"find the card with this serial that holds the foreign share, set it aside and label it; the registered card keeps its entry")
		}
		if c.Uncertain {
			add(Warning, "card "+c.Serial, "a write to its backup slot has no known outcome", "resume the ceremony that wrote it, or read the card with 'ceremony readers'")
		}
	}

	hsmKCV, lastSet := inv.HSMs()
	for _, ks := range inv.KeySets() {
		if ks.Status != inventory.KeySetLive {
			continue
		}
		subject := "key set " + ks.ID
		if lastSet != "" && ks.ID != lastSet {
			add(Warning, subject, fmt.Sprintf("superseded by key set %s, loaded later", lastSet), "keep its cards only while backups made under it must stay readable")
		}
		distinct := usableDistinct(ks, blocked)
		switch {
		case distinct < ks.Threshold:
			add(Critical, subject, fmt.Sprintf("only %d usable distinct shares are known for a threshold of %d: the key cannot be rebuilt from cards", distinct, ks.Threshold),
				"while an HSM still holds the key, generate a new key set and move to it; find or unblock cards of this set")
		case distinct == ks.Threshold:
			add(Warning, subject, fmt.Sprintf("exactly %d usable distinct shares for a threshold of %d: no spare, one lost card loses the key", distinct, ks.Threshold),
				"copy shares to spare cards (ceremony copy) or generate a new set with more shares")
		}
		for hsm, kcv := range hsmKCV {
			if ks.ID == lastSet && kcv != ks.KCV {
				add(Critical, "HSM "+hsm, fmt.Sprintf("holds the Backup Key with KCV %s, the live key set %s has KCV %s", kcv, ks.ID, ks.KCV),
					"load the right key set into this HSM; backups it makes cannot be restored with this set's cards")
			}
		}
	}
	out = append(out, verifyPolicyFindings(now, inv, blocked)...)
	rank := map[string]int{Critical: 0, Warning: 1, Info: 2}
	sort.SliceStable(out, func(i, j int) bool {
		if rank[out[i].Severity] != rank[out[j].Severity] {
			return rank[out[i].Severity] < rank[out[j].Severity]
		}
		if out[i].Subject != out[j].Subject {
			return out[i].Subject < out[j].Subject
		}
		return out[i].What < out[j].What
	})
	return out
}

// verifyPolicyFindings applies each key set's verification policy
// (inventory.KeySet.VerifyEvery, set by a share check): a card of the set
// not verified within the period, counted from the policy's start for a
// card never verified, is overdue; a set whose distinct shares on cards
// neither overdue nor blocked fall to its threshold is critical.
func verifyPolicyFindings(now time.Time, inv *inventory.Inventory, blocked map[string]bool) []Finding {
	var out []Finding
	for _, ks := range inv.KeySets() {
		if ks.VerifyEvery <= 0 || ks.Status == inventory.KeySetVoid {
			continue
		}
		days := int(ks.VerifyEvery / (24 * time.Hour))
		recovery := fmt.Sprintf("have its custodian present it: ceremony share-check --key-set %s", ks.ID)
		good := 0
		for i := 1; i <= ks.Shares; i++ {
			ok := false
			for _, s := range ks.Holders[i] {
				c, _ := inv.Card(s)
				ref, since := c.LastVerified, "last verified "+c.LastVerified.Format("2006-01-02")
				if ref.IsZero() {
					ref, since = ks.PolicySince, "never verified since the policy was set on "+ks.PolicySince.Format("2006-01-02")
				}
				who := ""
				if c.Custodian != "" {
					who = ", custodian " + c.Custodian
				}
				if now.Sub(ref) > ks.VerifyEvery {
					out = append(out, Finding{Severity: Warning, Subject: "card " + s,
						What:     fmt.Sprintf("overdue for a share check: share %d of key set %s%s, %s; the policy is every %d days", i, ks.ID, who, since, days),
						Recovery: recovery})
					continue
				}
				if !blocked[s] {
					ok = true
				}
			}
			if ok {
				good++
			}
		}
		if good <= ks.Threshold {
			out = append(out, Finding{Severity: Critical, Subject: "key set " + ks.ID,
				What:     fmt.Sprintf("only %d distinct shares are on cards verified within the policy (every %d days) and usable, for a threshold of %d: no margin left", good, days, ks.Threshold),
				Recovery: recovery + "; copy or replace the cards that fail"})
		}
	}
	return out
}
