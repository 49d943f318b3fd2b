package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// extendFromThePage: the operator's live view counts down to the open
// step's deadline and extends it by 5 minutes from the page; the
// deadline moves by exactly that, and step.extended names the account.
func (cs *consoleSite) extendFromThePage(t *testing.T, op context.Context, id string) {
	t.Helper()
	cl, _ := cs.login(t, "alan")
	_, before := cs.apiCall(t, cl, "GET", "/api/v1/ceremonies/"+id, "", nil)
	step, _ := before["open_step"].(string)
	if step == "" {
		t.Fatalf("no open step right after the start: %v", before["_raw"])
	}
	do(t, op, "the countdown runs", chromedp.WaitVisible("#extend-form"),
		until(`Number(document.getElementById("countdown").dataset.seconds) > 0 && document.getElementById("countdown").textContent.includes("min")`))
	do(t, op, "extend by 5 minutes", chromedp.SetValue("#extend-minutes", "5"), chromedp.Click("#extend"),
		until(`document.getElementById("step-notice").textContent.includes("now ends at")`),
		until(`document.getElementById("events").textContent.includes("step.extended")`))
	_, after := cs.apiCall(t, cl, "GET", "/api/v1/ceremonies/"+id, "", nil)
	d0, err0 := time.Parse(time.RFC3339Nano, before["deadline"].(string))
	d1, err1 := time.Parse(time.RFC3339Nano, after["deadline"].(string))
	if err0 != nil || err1 != nil || after["open_step"] != step || d1.Sub(d0) != 5*time.Minute {
		t.Fatalf("after the extension: step %v deadline %v, want step %q and %s + 5 min (%v %v)", after["open_step"], after["deadline"], step, d0, err0, err1)
	}
	if ev := eventLine(t, cs.eventsOf(t, id), "step.extended"); !strings.Contains(ev, `"seconds":300,"by":"olga"`) {
		t.Fatalf("step.extended does not name the account and the extension:\n%s", ev)
	}
}

// eventLine returns the last line of out about event type typ.
func eventLine(t *testing.T, out, typ string) string {
	t.Helper()
	last := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, typ) {
			last = l
		}
	}
	if last == "" {
		t.Fatalf("no %s event:\n%s", typ, out)
	}
	return last
}

// TestConsoleRetryAndResume: with a one-second step deadline a console
// ceremony pauses; the operator retries from the page (step.retried
// names her account); after the service is killed, the ceremony no
// process runs is resumed from the page (ceremony.resumed names her).
func TestConsoleRetryAndResume(t *testing.T) {
	cs := newConsoleSite(t, "--console-step-timeout", "1s")
	actx := browser(t)
	op := tab(t, actx, true)
	cs.browserLogin(t, op, "olga")
	do(t, op, "start a generate", chromedp.WaitVisible("#start-form"), chromedp.WaitVisible("#param-quorum"), chromedp.Click("#start"), chromedp.WaitVisible("#pad"))
	loc, err := chromedp.Run(op, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	id := loc[strings.LastIndex(loc, "/")+1:]

	// Nobody acts: the step's deadline passes and the pad asks to retry.
	do(t, op, "the step times out", chromedp.WaitVisible("#retry"),
		until(`document.getElementById("line1").textContent === "Timed out" && document.getElementById("pad").dataset.waiting === "confirm"`),
		until(`document.getElementById("step-line").textContent.includes("timed out")`))
	do(t, op, "retry", chromedp.Click("#retry"), until(`document.getElementById("events").textContent.includes("step.retried")`))
	if ev := eventLine(t, cs.eventsOf(t, id), "step.retried"); !strings.Contains(ev, `"by":"olga"`) {
		t.Fatalf("step.retried does not name the account:\n%s", ev)
	}

	// The service dies; the restarted console offers to resume it.
	cs.srv.kill9(t)
	cs.serve(t, "--console-step-timeout", "1s")
	cs.browserLogin(t, op, "olga")
	do(t, op, "the live view offers Resume", chromedp.Navigate(cs.url+"ceremonies/"+id), chromedp.WaitVisible("#resume"))
	if eval[bool](t, op, `!document.getElementById("retry").hidden`) {
		t.Fatal("a ceremony no process runs offers Retry instead of Resume")
	}
	// The page reloads once the resume is accepted: a mark set on the old
	// page tells the new one, and the wait goes on across the reload.
	eval[bool](t, op, `(() => { window.beforeResume = true; document.getElementById("resume").click(); return true })()`)
	doAcrossReload(t, op, "resume", until(`!window.beforeResume && document.getElementById("pad") !== null &&
		document.getElementById("events").textContent.includes("ceremony.resumed")`))
	if ev := eventLine(t, cs.eventsOf(t, id), "ceremony.resumed"); !strings.Contains(ev, `"by":"olga"`) {
		t.Fatalf("ceremony.resumed does not name the account:\n%s", ev)
	}
	// A second resume is refused: the console runs it now.
	olga, csrf := cs.login(t, "olga")
	if code, out := cs.apiCall(t, olga, "POST", "/api/v1/ceremonies/"+id+"/resume", csrf, map[string]string{}); code != 409 || !strings.Contains(out["message"].(string), "runs it now") {
		t.Errorf("a second resume: %d %v", code, out["_raw"])
	}
	// Extending a step that is not the open one is refused with what to do.
	if code, out := cs.apiCall(t, olga, "POST", "/api/v1/ceremonies/"+id+"/extend", csrf, map[string]any{"step": "no such step", "minutes": 5}); code != 409 || !strings.Contains(out["message"].(string), "reload the page") {
		t.Errorf("extending another step: %d %v", code, out["_raw"])
	}
	if code, out := cs.apiCall(t, olga, "POST", "/api/v1/ceremonies/"+id+"/extend", csrf, map[string]any{"step": "x", "minutes": 0}); code != 400 {
		t.Errorf("extending by 0 minutes: %d %v", code, out["_raw"])
	}
	if code, out := cs.apiCall(t, olga, "POST", "/api/v1/ceremonies/"+id+"/abort", csrf, map[string]string{"reason": "rehearsal of a retry over"}); code != 200 {
		t.Fatalf("abort: %d %v", code, out["_raw"])
	}
	// The start, OK presses, retry, resume and abort all name the account.
	attributedActions(t, id, cs.apiEvents(t, id))
}
