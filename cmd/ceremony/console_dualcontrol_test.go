package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// dualControlInTheConsole: on a site served with --dual-control
// backup-key-generate,backup-key-load, olga starts a generate from the
// page; it records that approval is required and waits, before its first
// card step, with "waiting for a second operator's approval" on every
// page. olga's own approval is refused (409), an auditor's and a
// witness's are forbidden (403); dave approves from his own session with
// the Approve button: ceremony.approved names him, and the card steps
// start only after it. A second approval is refused; a start of the kind
// from the terminal is refused with what to do. first is a tab of the
// browser (the others open in it). Run on
// TestConsoleAdminPages's site (no console site of its own).
func dualControlInTheConsole(t *testing.T, cs *consoleSite, first context.Context) {
	t.Helper()
	op := tab(t, first, false)
	cs.browserLogin(t, op, "olga")
	do(t, op, "olga starts a generate under dual control", chromedp.WaitVisible("#param-witnesses"), chromedp.Click("#start"), chromedp.WaitVisible("#pad"),
		until(`document.getElementById("pad").dataset.approval === "open"`))
	id := eval[string](t, op, `location.pathname.split("/").pop()`)
	if !strings.HasPrefix(id, "gen-") {
		t.Fatalf("the start landed on %s", id)
	}
	if w := eval[string](t, op, `document.getElementById("waiting").textContent`); !strings.Contains(w, "Waiting for a second operator's approval") {
		t.Errorf("olga's live view says %q, want it waiting for a second operator's approval", w)
	}
	if !eval[bool](t, op, `document.getElementById("approve").hidden`) {
		t.Error("the starter is offered the Approve button")
	}
	axeCheck(t, op, "live view waiting for a second operator's approval")
	do(t, op, "olga extends the approval step's deadline", chromedp.WaitVisible("#extend-form"),
		until(`document.getElementById("step-line").dataset.step === "second operator's approval"`),
		chromedp.SetValue("#extend-minutes", "5"), chromedp.Click("#extend"),
		until(`Array.from(document.querySelectorAll("#events tbody tr")).some((r) => r.textContent.includes("step.extended") && r.textContent.includes('"by":"olga"'))`))

	olga, olgaCSRF := cs.login(t, "olga")
	if code, out := cs.apiCall(t, olga, "POST", "/api/v1/ceremonies/"+id+"/approve", olgaCSRF, map[string]string{}); code != http.StatusConflict ||
		!strings.Contains(fmt.Sprint(out["message"]), "a second operator must approve") {
		t.Errorf("olga approving her own start: %d %v, want 409 saying a second operator must approve", code, out["_raw"])
	}
	for _, name := range []string{"alan", "wendy"} {
		cl, csrf := cs.login(t, name)
		if code, out := cs.apiCall(t, cl, "POST", "/api/v1/ceremonies/"+id+"/approve", csrf, map[string]string{}); code != http.StatusForbidden {
			t.Errorf("%s (%s) approving: %d %v, want 403", name, consoleAccounts[name], code, out["_raw"])
		}
	}
	before := cs.apiEvents(t, id)
	required := false
	for _, e := range before {
		if strings.HasPrefix(e.Type, "card.") || e.Type == "ceremony.approved" {
			t.Fatalf("before the approval %s has %s: %s", id, e.Type, e.Payload)
		}
		required = required || (e.Type == "ceremony.approval_required" && strings.Contains(string(e.Payload), `"starter":"olga"`))
	}
	if !required {
		t.Fatalf("the start of %s does not record that approval is required (by a second operator, not olga)", id)
	}

	// An auditor watching sees the wait, and no Approve button.
	aud := tab(t, first, false)
	cs.browserLogin(t, aud, "alan")
	do(t, aud, "alan sees the wait", chromedp.Navigate(cs.url+"ceremonies/"+id),
		until(`document.getElementById("waiting").textContent.includes("Waiting for a second operator's approval")`))
	if eval[bool](t, aud, `document.getElementById("approve") !== null`) {
		t.Error("an auditor's page has an Approve button")
	}

	dave := tab(t, first, false)
	cs.browserLogin(t, dave, "dave")
	do(t, dave, "dave approves from his own session", chromedp.Navigate(cs.url+"ceremonies/"+id), chromedp.WaitVisible("#approve"), chromedp.Click("#approve"),
		until(`Array.from(document.querySelectorAll("#events tbody tr")).some((r) => r.textContent.includes("ceremony.approved"))`))
	// Then the kind's steps: olga confirms the start and presents the
	// first card.
	do(t, op, "the approval is taken on olga's page", until(`document.getElementById("pad").dataset.approval === "" && document.getElementById("pad").dataset.waiting === "confirm"`))
	if eval[bool](t, op, `document.getElementById("waiting").textContent.includes("Waiting for a second operator's approval")`) {
		t.Error("olga's page still says it waits for the approval")
	}
	do(t, op, "olga confirms the start", chromedp.Click("#ok"), until(`document.getElementById("line1").textContent.startsWith("Insert 1.")`),
		chromedp.WaitVisible("#insert-card1"))
	eval[bool](t, op, `(() => { document.getElementById("insert-card1").click(); return true })()`)
	do(t, op, "olga presents card1", until(`document.getElementById("in-reader").textContent === "card1"`), chromedp.Click("#ok"),
		until(`Array.from(document.querySelectorAll("#events tbody tr")).some((r) => r.textContent.includes("card.presented"))`))

	evs := cs.apiEvents(t, id)
	approvedAt, firstCard := -1, -1
	for i, e := range evs {
		switch {
		case e.Type == "ceremony.approved":
			var a struct{ By, Role string }
			json.Unmarshal(e.Payload, &a)
			if a.By != "dave" || a.Role != "operator" {
				t.Errorf("ceremony.approved names %s (%s), want dave (operator)", a.By, a.Role)
			}
			approvedAt = i
		case strings.HasPrefix(e.Type, "card.") && firstCard < 0:
			firstCard = i
		}
	}
	if approvedAt < 0 {
		t.Fatalf("no ceremony.approved in %s", id)
	}
	if firstCard < approvedAt {
		t.Fatalf("the first card event is at %d, the approval at %d: want a card step after the approval", firstCard, approvedAt)
	}
	davecl, daveCSRF := cs.login(t, "dave")
	if code, out := cs.apiCall(t, davecl, "POST", "/api/v1/ceremonies/"+id+"/approve", daveCSRF, map[string]string{}); code != http.StatusConflict ||
		!strings.Contains(fmt.Sprint(out["message"]), "approved already, by dave") {
		t.Errorf("a second approval: %d %v, want 409", code, out["_raw"])
	}

	alan, _ := cs.login(t, "alan")
	resp, err := alan.Get(cs.url + "api/v1/ceremonies/" + id + "/report")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "(started by olga); approved by dave (operator) at ") {
		t.Errorf("the report does not say who approved:\n%s", page)
	}

	// The terminal cannot take a second operator's approval: refused.
	if code, out := cs.runCLI(t, "generate", "--operator", "olga", "--cards-dir", cs.site.cardsDir); code != exitUsage ||
		!strings.Contains(out, "backup-key-generate is under dual control at this station") || !strings.Contains(out, "start it in the web console") {
		t.Errorf("a terminal start of a kind under dual control: exit %d\n%s", code, out)
	}

	if code, out := cs.apiCall(t, olga, "POST", "/api/v1/ceremonies/"+id+"/abort", olgaCSRF, map[string]string{"reason": "dual control test done"}); code != http.StatusOK {
		t.Fatalf("abort: %d %v", code, out["_raw"])
	}
	attributedActions(t, id, cs.apiEvents(t, id))
}

// TestServeRefusesAnUnknownDualControlKind: a kind name --dual-control
// does not know is refused, with the kinds that can be started, before
// anything is served or written.
func TestServeRefusesAnUnknownDualControlKind(t *testing.T) {
	s := newSite(t)
	code, out := s.runCLI(t, "serve", "--http=127.0.0.1:0", "--dual-control", "backup-key-generate,backup-key-lode")
	if code != exitUsage || !strings.Contains(out, "--dual-control backup-key-lode: no kind of that name can be started: give kinds among") ||
		!strings.Contains(out, "backup-key-load") {
		t.Fatalf("serve --dual-control with an unknown kind: exit %d\n%s", code, out)
	}
	if svc, err := readService(s.dataDir); err != nil {
		t.Fatal(err)
	} else if svc != nil {
		t.Fatalf("serve wrote %s before refusing its flags", servicePath(s.dataDir))
	}
}
