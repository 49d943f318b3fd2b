package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestConsoleWitnessDesk: a generate started from the console with
// witnesses 2 stops at its witness desk before its completing step; two
// witness accounts sign off from their own sessions (a second sign-off by
// the same account is refused), then the key is loaded. The sign-offs
// are the accounts' names and roles. Then, on the same site, a scripted
// ceremony's sign-offs follow its script's witness list.
func TestConsoleWitnessDesk(t *testing.T) {
	cs := newConsoleSite(t)
	actx := browser(t)
	op := tab(t, actx, true)
	cs.browserLogin(t, op, "olga")
	do(t, op, "start a generate with two witnesses", chromedp.WaitVisible("#param-witnesses"), chromedp.SetValue("#param-witnesses", "2"),
		chromedp.Click("#start"), chromedp.WaitVisible("#pad"))
	id := eval[string](t, op, `location.pathname.split("/").pop()`)
	if !strings.HasPrefix(id, "gen-") {
		t.Fatalf("the start landed on %s", id)
	}
	witnesses := map[string]context.Context{}
	for _, name := range []string{"wendy", "walt"} {
		w := tab(t, op, false)
		cs.browserLogin(t, w, name)
		do(t, w, name+" opens the ceremony", chromedp.Navigate(cs.url+"ceremonies/"+id), chromedp.WaitVisible("#witness"))
		witnesses[name] = w
	}
	pins := map[string]string{"card1": rehearsalPINs[0], "card2": rehearsalPINs[1], "card3": rehearsalPINs[2]}
	atDesk := 0
	driveThroughPage(t, op, witnesses["wendy"], pins, func() {}, func() {
		atDesk++
		if atDesk > 1 {
			return
		}
		if ev := cs.eventsOf(t, id); strings.Contains(ev, "hsm.key_loaded") || strings.Contains(ev, "ceremony.witnessed") {
			t.Fatalf("at the witness desk the key is loaded or a sign-off recorded already:\n%s", ev)
		}
		for i, name := range []string{"wendy", "walt"} {
			do(t, witnesses[name], name+" signs off at the desk",
				until(`document.getElementById("pad").dataset.desk === "`+[]string{"1/2", "2/2"}[i]+`"`),
				chromedp.Click("#witness"),
				until(`document.querySelectorAll("#events tbody tr").length > 0 && Array.from(document.querySelectorAll("#events tbody tr")).filter((r) => r.textContent.includes('"name":"`+name+`"')).length === 1`))
			if name == "wendy" {
				cl, csrf := cs.login(t, "wendy")
				if code, out := cs.apiCall(t, cl, "POST", "/api/v1/ceremonies/"+id+"/witness", csrf, map[string]string{}); code != 409 || !strings.Contains(out["message"].(string), "already") {
					t.Errorf("wendy signing off twice: %d %v", code, out["_raw"])
				}
			}
		}
	})
	if atDesk == 0 {
		t.Fatal("the run never stopped at its witness desk")
	}
	// Both sign-offs are recorded, by the accounts, before the key is loaded.
	var order []string
	for _, e := range cs.apiEvents(t, id) {
		switch e.Type {
		case "ceremony.witnessed":
			var w struct{ Name, Role string }
			json.Unmarshal(e.Payload, &w)
			order = append(order, w.Name+"/"+w.Role)
		case "hsm.key_loaded":
			order = append(order, "loaded")
		}
	}
	if got := strings.Join(order, " "); got != "wendy/witness walt/witness loaded" {
		t.Fatalf("sign-offs and the load in the order %q, want wendy/witness walt/witness loaded", got)
	}
	attributedActions(t, id, cs.apiEvents(t, id))
	signOffFollowsTheScript(t, cs)
}

// signOffFollowsTheScript: a ceremony started from a script that names
// its witnesses takes, in the console, the sign-off of a witness account
// the script names and turns away another, recording nothing for it (the
// script refuses the unscripted). Run on TestConsoleWitnessDesk's site.
func signOffFollowsTheScript(t *testing.T, cs *consoleSite) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "gen.yaml")
	script := strings.Replace(testScript, "witnesses:\n  - role: auditor\n", "witnesses:\n  - name: wendy\n    role: witness\n", 1)
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	gen := cs.start("generate", "--script", file, "--operator", "alice", "--id", "gen-sw", "--cards-dir", cs.site.cardsDir)
	gen.waitFor(t, "Script step 1 of 2")
	gen.kill9(t) // the ceremony stays open; sign-offs are annotations
	waitUntil(t, "the console sees gen-sw", func() bool {
		cl, _ := cs.login(t, "alan")
		code, _ := cs.apiCall(t, cl, "GET", "/api/v1/ceremonies/gen-sw", "", nil)
		return code == 200
	})
	walt, waltCSRF := cs.login(t, "walt")
	if code, out := cs.apiCall(t, walt, "POST", "/api/v1/ceremonies/gen-sw/witness", waltCSRF, map[string]string{}); code != 409 ||
		!strings.Contains(fmt.Sprint(out["message"]), "walt (witness) is not a witness the ceremony's script (gen.yaml) names: it names wendy (witness)") {
		t.Errorf("a sign-off by a witness the script does not name: %d %v", code, out["_raw"])
	}
	wendy, wendyCSRF := cs.login(t, "wendy")
	if code, out := cs.apiCall(t, wendy, "POST", "/api/v1/ceremonies/gen-sw/witness", wendyCSRF, map[string]string{}); code != 200 {
		t.Fatalf("a sign-off by the witness the script names: %d %v", code, out["_raw"])
	}
	var signed []string
	for _, e := range cs.apiEvents(t, "gen-sw") {
		if e.Type == "ceremony.witnessed" || e.Type == "ceremony.unscripted" {
			signed = append(signed, e.Type+" "+string(e.Payload))
		}
	}
	if len(signed) != 1 || !strings.Contains(signed[0], `"name":"wendy","role":"witness"`) {
		t.Fatalf("the sign-offs recorded: %v, want wendy's alone", signed)
	}
}
