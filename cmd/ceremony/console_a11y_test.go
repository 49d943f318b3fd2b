package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// Accessibility: axe-core (testdata/axe, vendored from npm for the test
// only) runs in the page under test; every serious or critical violation
// fails the test, naming the rule, its help text and the elements.

var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	return string(b), err
})

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axeCheck runs axe-core on the page ctx shows now. A violation of one
// of the rules in strict fails whatever its impact.
func axeCheck(t *testing.T, ctx context.Context, page string, strict ...string) {
	t.Helper()
	src, err := axeSource()
	if err != nil {
		t.Fatalf("the vendored axe-core: %v", err)
	}
	if !eval[bool](t, ctx, `typeof window.axe === "object"`) {
		lctx, cancel := context.WithTimeout(ctx, 60e9)
		defer cancel()
		if _, err := chromedp.Run(lctx, chromedp.Evaluate[chromedp.Void](src)); err != nil {
			t.Fatalf("%s: load axe-core: %v", page, err)
		}
	}
	lctx, cancel := context.WithTimeout(ctx, 60e9)
	defer cancel()
	vs, err := chromedp.Run(lctx, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ["violations"]}).then((r) =>
  r.violations.map((v) => ({id: v.id, impact: v.impact || "", help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" "))})))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: run axe-core: %v", page, err)
	}
	var bad []string
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" || slices.Contains(strict, v.ID) {
			bad = append(bad, v.Impact+" "+v.ID+": "+v.Help+" ("+strings.Join(v.Nodes, ", ")+")")
		} else {
			t.Logf("%s: axe-core %s %s: %s (%s)", page, v.Impact, v.ID, v.Help, strings.Join(v.Nodes, ", "))
		}
	}
	if len(bad) > 0 {
		t.Errorf("%s: axe-core reports:\n  %s", page, strings.Join(bad, "\n  "))
	}
}

// TestConsoleKeyboardOnly: an operator logs in and starts a rehearsal
// with the keyboard alone (Tab, Enter, Space and the letters of her name
// and password): no mouse event reaches the page. axe-core checks the
// login page and the dashboard on the way.
func TestConsoleKeyboardOnly(t *testing.T) {
	cs := newConsoleSite(t)
	actx := browser(t)
	op := tab(t, actx, true)
	do(t, op, "open the console", chromedp.Navigate(cs.url), chromedp.WaitVisible("#login-form"))
	eval[bool](t, op, `window.__clicks = 0; document.addEventListener("mousedown", () => window.__clicks++, true); true`)
	axeCheck(t, op, "login page")
	tabTo(t, op, "name")
	do(t, op, "type the name", chromedp.KeyEvent("olga"))
	tabTo(t, op, "password")
	do(t, op, "type the password and Enter", chromedp.KeyEvent(cs.passwords["olga"]), chromedp.KeyEvent("\r"), chromedp.WaitVisible("#start-form"), chromedp.WaitVisible("#param-quorum"))
	eval[bool](t, op, `window.__clicks = 0; document.addEventListener("mousedown", () => window.__clicks++, true); true`)
	axeCheck(t, op, "dashboard with the start form")
	tabTo(t, op, "start")
	do(t, op, "Space on Start", chromedp.KeyEvent(" "), chromedp.WaitVisible("#pad"), until(`document.getElementById("pad").dataset.waiting === "confirm"`))
	if n := eval[int](t, op, `window.__clicks || 0`); n != 0 {
		t.Fatalf("%d mouse events reached the page", n)
	}
	if loc := eval[string](t, op, `location.pathname`); !strings.HasPrefix(loc, "/ceremonies/gen-") {
		t.Fatalf("the keyboard start landed on %s", loc)
	}
	axeCheck(t, op, "live view of a generate")
	// OK on the PIN pad by the keyboard too.
	tabTo(t, op, "ok")
	do(t, op, "Enter on OK", chromedp.KeyEvent("\r"), until(`document.getElementById("events").textContent.includes("step.completed")`))
}

// tabTo presses Tab until the element with id has the focus (at most 60
// times: every control is reachable in the tab order).
func tabTo(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	for i := 0; i < 60; i++ {
		if eval[string](t, ctx, `document.activeElement ? document.activeElement.id : ""`) == id {
			return
		}
		do(t, ctx, "Tab", chromedp.KeyEvent("\t"))
	}
	t.Fatalf("#%s is not reached with Tab (focus on %q)", id, eval[string](t, ctx, `document.activeElement ? document.activeElement.outerHTML.slice(0, 120) : ""`))
}
