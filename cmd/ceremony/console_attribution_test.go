package main

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/web"
)

// describesTheStart are the events a console start records with its
// first event that describe it rather than act: they follow the start
// event, which names the account (attributedActions checks that).
var describesTheStart = map[string]bool{"ceremony.station": true, "ceremony.witnesses_required": true, "ceremony.approval_required": true}

// attributedActions walks a console ceremony's events and fails on a
// person's action that does not name a console account: every event of
// source operator, and every PIN entered on the host (the web PIN pad),
// must name an account in a payload field naming a person (operator, by,
// name). Events describing the start follow a start that names one.
func attributedActions(t *testing.T, id string, evs []web.Event) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatalf("ceremony %s has no events to check", id)
	}
	named := func(e web.Event) (string, bool) {
		var p map[string]any
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			t.Fatalf("event %d of %s (%s): %v", e.Position, id, e.Type, err)
		}
		for _, f := range []string{"operator", "by", "name"} {
			if who, ok := p[f].(string); ok {
				if _, account := consoleAccounts[who]; account {
					return who, true
				}
				return fmt.Sprintf("%s=%q", f, who), false
			}
		}
		return "no operator, by or name field", false
	}
	actions := 0
	startNamed := false
	for i, e := range evs {
		var entry struct {
			Entry string `json:"entry"`
		}
		json.Unmarshal(e.Payload, &entry)
		pin := (e.Type == "card.pin_verified" || e.Type == "card.pin_rejected") && entry.Entry == "host"
		if e.Source != "operator" && !pin {
			continue
		}
		if describesTheStart[e.Type] {
			if !startNamed || i > 3 {
				t.Errorf("%s event %d (%s) describes a start that names no account", id, e.Position, e.Type)
			}
			continue
		}
		actions++
		who, ok := named(e)
		if !ok {
			t.Errorf("%s event %d (%s, source %s) is an action without its account (%s): %s", id, e.Position, e.Type, e.Source, who, e.Payload)
		}
		if i == 0 {
			startNamed = ok
		}
	}
	if actions < 2 {
		t.Fatalf("ceremony %s has %d actions: the walk proves nothing", id, actions)
	}
}
