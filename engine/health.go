package engine

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/ceremony-hsm/ceremony/events"
)

// Finding severities.
const (
	Critical = "critical"
	Warning  = "warning"
	Info     = "info"
)

// Finding is one inconsistency or risk the events show, with what it
// affects and what to do. It stays open until an event resolves it.
type Finding struct {
	Severity string `json:"severity"`
	Subject  string `json:"subject"` // "ceremony X", "card S", "key set K", "HSM H"
	What     string `json:"what"`
	Recovery string `json:"recovery"`
}

// pendingEffect is a side effect asked for and not answered yet.
type pendingEffect struct {
	what     string
	recovery string
}

// health follows every event, idempotent by stream sequence (an event
// applied twice, or replayed, changes nothing; events of other writers may
// arrive out of order), and derives the findings.
type health struct {
	mu      sync.Mutex
	seen    map[uint64]bool
	pending map[string]map[string]pendingEffect // ceremony -> key -> effect
	hsmKCV  map[string]string                   // HSM -> KCV of the Backup Key it holds
	lastSet string                              // the newest key set made live
}

func newHealth() *health {
	return &health{seen: map[uint64]bool{}, pending: map[string]map[string]pendingEffect{}, hsmKCV: map[string]string{}}
}

func (h *health) open(ceremony, key, what, recovery string) {
	if h.pending[ceremony] == nil {
		h.pending[ceremony] = map[string]pendingEffect{}
	}
	h.pending[ceremony][key] = pendingEffect{what, recovery}
}

func (h *health) close(ceremony, key string) { delete(h.pending[ceremony], key) }

// apply folds one stored event; seq 0 means "not from the store" and is
// always applied (tests).
func (h *health) apply(seq uint64, env events.Envelope, p events.Payload) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if seq != 0 {
		if h.seen[seq] {
			return
		}
		h.seen[seq] = true
	}
	c := env.CeremonyID
	resume := fmt.Sprintf("resume ceremony %s: the engine checks the card or HSM before going on", c)
	switch ev := p.(type) {
	case *events.ShareWriteRequested:
		h.open(c, "write "+ev.Serial, fmt.Sprintf("writing share %d to card %s has no recorded outcome", ev.Index, ev.Serial), resume)
	case *events.ShareWritten:
		h.close(c, "write "+ev.Serial)
	case *events.ShareWriteFailed:
		h.close(c, "write "+ev.Serial)
	case *events.HSMLoadRequested:
		h.open(c, "load", fmt.Sprintf("loading key set %s into %s has no recorded outcome", ev.KeySetID, ev.HSM), resume)
	case *events.HSMKeyLoaded:
		h.close(c, "load")
		h.hsmKCV[ev.HSM] = ev.KCV
		h.lastSet = ev.KeySetID
	case *events.HSMLoadFailed:
		h.close(c, "load")
	case *events.KeyRestoreRequested:
		h.open(c, "restore "+ev.ID, fmt.Sprintf("restoring key %q has no recorded outcome", ev.Label), "look for the key on the token, then restore again (existing keys are left as they are)")
	case *events.KeyRestored:
		h.close(c, "restore "+ev.ID)
	case *events.KeyRestoreFailed:
		h.close(c, "restore "+ev.ID)
	case *events.PINChangeRequested:
		h.open(c, "pin "+ev.Serial, fmt.Sprintf("a %s change on card %s has no recorded outcome: the card has the old or the new PIN", ev.PIN, ev.Serial), resume)
	case *events.PINChanged:
		h.close(c, "pin "+ev.Serial)
	case *events.PINRejected:
		h.close(c, "pin "+ev.Serial)
	case *events.PINChangeResolved:
		h.close(c, "pin "+ev.Serial)
	case *events.UserCredentialWriteRequested:
		h.open(c, "credential "+ev.Serial, fmt.Sprintf("writing the slot credential to card %s has no recorded outcome", ev.Serial), "enrol the card again")
	case *events.UserEnrolled:
		h.close(c, "credential "+ev.Serial)
	case *events.CeremonyFailed, *events.CeremonyAborted:
		// An ended ceremony's open effects stay open: what happened on the
		// card or HSM is still unknown. Failed enrolments are redone anyway.
		for k := range h.pending[c] {
			if len(k) > 11 && k[:11] == "credential " {
				delete(h.pending[c], k)
			}
		}
	}
}

// Health returns the open findings at time now, most severe first.
func (e *Engine) Health(now time.Time) []Finding {
	var out []Finding
	add := func(sev, subject, what, recovery string) {
		out = append(out, Finding{Severity: sev, Subject: subject, What: what, Recovery: recovery})
	}
	e.health.mu.Lock()
	for c, effects := range e.health.pending {
		for _, p := range effects {
			add(Warning, "ceremony "+c, p.what, p.recovery)
		}
	}
	hsmKCV := map[string]string{}
	for k, v := range e.health.hsmKCV {
		hsmKCV[k] = v
	}
	lastSet := e.health.lastSet
	e.health.mu.Unlock()

	for _, s := range e.Ceremonies() {
		if !s.Ended && s.OpenStep != "" && now.After(s.Deadline) {
			add(Warning, "ceremony "+s.ID, fmt.Sprintf("no event since the deadline of step %q (%s) passed", s.OpenStep, s.Deadline.Format(time.RFC3339)),
				fmt.Sprintf("resume ceremony %s (it pauses and asks to retry) or abort it", s.ID))
		}
	}

	cards := e.Cards()
	blocked := map[string]bool{}
	for _, c := range cards {
		if c.Blocked["PW3"] {
			blocked[c.Serial] = true
			add(Warning, "card "+c.Serial, "its backup PIN (PW3) is blocked: the card is unavailable", "count it out of its set's quorum; replace it with a copy of its share")
		}
		for pin, def := range c.DefaultPIN {
			if def {
				add(Warning, "card "+c.Serial, fmt.Sprintf("still on the factory default PIN (%s)", pin), "change it: ceremony pin change --slot "+map[string]string{"PW3": "backup", "PW1": "user"}[pin])
			}
		}
		if c.Void {
			add(Info, "card "+c.Serial, fmt.Sprintf("holds share %d of the void key set %s", c.ShareIndex, c.KeySetID), "a new generate may overwrite it without confirmation")
		}
		if c.Uncertain {
			add(Warning, "card "+c.Serial, "a write to its backup slot has no known outcome", "resume the ceremony that wrote it, or read the card with 'ceremony readers'")
		}
	}

	for _, ks := range e.proj.keySets() {
		if ks.Status != KeySetLive {
			continue
		}
		subject := "key set " + ks.ID
		if lastSet != "" && ks.ID != lastSet {
			add(Warning, subject, fmt.Sprintf("superseded by key set %s, loaded later", lastSet), "keep its cards only while backups made under it must stay readable")
		}
		distinct := 0
		for _, holders := range ks.Holders {
			for _, s := range holders {
				if !blocked[s] {
					distinct++
					break
				}
			}
		}
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
