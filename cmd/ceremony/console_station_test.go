package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/pcsc/pcscdtest"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm/softhsmtest"
	"github.com/chromedp/chromedp"
)

// stationPadJS is what the operator's live view shows on a real station
// (no emulated bench there).
const stationPadJS = `({line1: document.getElementById("line1").textContent, line2: document.getElementById("line2").textContent,
  waiting: document.getElementById("pad").dataset.waiting || "", phase: document.getElementById("status").dataset.phase || "",
  ended: document.getElementById("pad").dataset.ended || ""})`

type stationPad struct{ Line1, Line2, Waiting, Phase, Ended string }

// TestConsoleOnARealStation: 'ceremony serve --http' with a PC/SC reader
// (a real pcscd, the card emulator behind vpcd) and a PKCS#11 HSM
// (SoftHSM2) given as to the other commands. An operator runs a 2-of-3
// generate and then a load through the page only, the cards inserted
// into the reader by hand (over vpcd) and the PINs typed in the web PIN
// pad; the key ends in the token; the pages are not marked rehearsal and
// say where the PINs go; the events name the reader and the token; no PIN
// typed is in any event, log, page or export.
func TestConsoleOnARealStation(t *testing.T) {
	d := pcscdtest.Start(t)
	tk := softhsmtest.New(t, "console-station")
	reader := pcscdtest.ReaderName(0)
	cs := newConsoleSite(t, "--reader", reader, "--hsm", "pkcs11", "--pkcs11-module", tk.Module,
		"--pkcs11-token", "pkcs11:token="+tk.Label, "--pkcs11-pin-file", tk.PINFile)
	hand := &operator{t: t, addr: d.VpcdAddr(0), s: cs.site}
	defer hand.pull()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serve's log:\n%s", cs.srv.output())
		}
	})
	if out := cs.srv.output(); !strings.Contains(out, fmt.Sprintf("the console's ceremonies run on the PC/SC reader %q", reader)) {
		t.Fatalf("serve does not say the console runs on the reader:\n%s", out)
	}

	actx := browser(t)
	op := tab(t, actx, true)
	cs.browserLogin(t, op, "olga")
	do(t, op, "the station's start form", chromedp.WaitVisible("#start-form"), chromedp.WaitVisible("#param-quorum"), chromedp.WaitVisible("#station-info"))
	info := eval[string](t, op, `document.getElementById("station-info").textContent`)
	for _, want := range []string{reader, "PKCS#11 module", tk.Label, "over TLS", "never logged or stored"} {
		if !strings.Contains(info, want) {
			t.Errorf("the start page does not say %q about the station:\n%s", want, info)
		}
	}
	// Not marked rehearsal (the HSM's own description may say that
	// SoftHSM is a software HSM: that is what the events record).
	if h := eval[string](t, op, `Array.from(document.querySelectorAll("h1, h2")).map((h) => h.textContent).join("|")`); strings.Contains(h, "rehearsal") || !eval[bool](t, op, `document.getElementById("rehearsal-banner").hidden`) {
		t.Errorf("the start page of a real station is marked rehearsal (headings %s)", h)
	}

	gen := startOnStation(t, cs, op, "")
	// The reader serves one ceremony at a time: a second start waits.
	dave, daveCSRF := cs.login(t, "dave")
	if code, out := cs.apiCall(t, dave, "POST", "/api/v1/ceremonies", daveCSRF, map[string]any{"kind": "backup-key-generate"}); code != 409 ||
		!strings.Contains(fmt.Sprint(out["message"]), reader) || !strings.Contains(fmt.Sprint(out["message"]), gen) {
		t.Errorf("a second start while %s holds the reader: %d %v, want 409 naming the reader and %s", gen, code, out["_raw"], gen)
	}
	// The PIN pad's field says where a PIN typed there goes.
	if l := eval[string](t, op, `document.querySelector("label[for=pin]").textContent`); !strings.Contains(l, "over TLS") || !strings.Contains(l, "never logged or stored") {
		t.Errorf("the PIN field's label: %q", l)
	}
	inReader := ""
	driveStation(t, op, hand, &inReader)
	// A real station is never marked rehearsal, and has no emulated bench.
	if n := eval[int](t, op, `document.querySelectorAll("#bench, #insert-card1, #pull").length`); n != 0 {
		t.Errorf("the live view of a real station has %d emulated-card controls", n)
	}
	if !eval[bool](t, op, `document.getElementById("rehearsal-banner").hidden && !document.getElementById("status").textContent.includes("rehearsal")`) {
		t.Error("the live view of a real station is marked rehearsal")
	}
	opPages := map[string][]byte{"generate page": []byte(eval[string](t, op, `document.documentElement.outerHTML`))}

	load := startOnStation(t, cs, op, "backup-key-load")
	driveStation(t, op, hand, &inReader)
	opPages["load page"] = []byte(eval[string](t, op, `document.documentElement.outerHTML`))

	// The events name the station: the reader (host PIN entry through the
	// page) and the token; every PIN was typed on the host (the page).
	for _, id := range []string{gen, load} {
		ev := cs.eventsOf(t, id)
		for _, want := range []string{`"type":"ceremony.station"`, `"name":"` + reader + `","class":"host-pinpad"`, `token \"` + tk.Label + `\"`, `"operator":"olga"`} {
			if !strings.Contains(ev, want) {
				t.Errorf("the events of %s lack %s:\n%s", id, want, ev)
			}
		}
		if strings.Contains(ev, `"entry":"reader"`) || !strings.Contains(ev, `"entry":"host"`) {
			t.Errorf("the PINs of %s were not recorded as typed on the host's (the page's) PIN pad:\n%s", id, ev)
		}
	}
	if ev := cs.eventsOf(t, load); !strings.Contains(ev, "hsm.key_loaded") {
		t.Fatalf("the load did not load the key:\n%s", ev)
	}
	// Every action (start, OK presses, PINs) names olga's account.
	attributedActions(t, gen, cs.apiEvents(t, gen))
	attributedActions(t, load, cs.apiEvents(t, load))
	// The report heads with the station.
	cl, _ := cs.login(t, "alan")
	resp, err := cl.Get(cs.url + "api/v1/ceremonies/" + load + "/report")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the report of %s: %d %v", load, resp.StatusCode, err)
	}
	report := string(raw)
	for _, want := range []string{reader, tk.Label} {
		if !strings.Contains(report, want) {
			t.Errorf("the report of %s does not name %q", load, want)
		}
	}
	exportTar := cs.auditorExportVerifies(t)

	// The key is in the token: stop the service (it holds the module),
	// then ask the token.
	if err := cs.srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := cs.srv.exit(t); code != exitOK {
		t.Fatalf("serve after SIGTERM: exit %d\n%s", code, cs.srv.output())
	}
	h := openToken(t, tk)
	_, kcv, found, err := h.BackupKey(context.Background())
	h.Close()
	if err != nil || !found {
		t.Fatalf("the token holds no Backup Key after the load through the console: found %v, %v", found, err)
	}
	if ev := cs.eventsOf(t, load); !strings.Contains(ev, kcv) {
		t.Errorf("the token's Backup Key (KCV %s) is not the one the load recorded:\n%s", kcv, ev)
	}

	// Secret scan: the PINs typed in the web PIN pad, the shares and the
	// key they rebuild, the token PIN and the passwords.
	secrets := cardSecrets(t, cs.site.cardsDir, testPINs)
	secrets["token PIN"] = []byte(tk.PIN)
	for n, p := range cs.passwords {
		secrets["password of "+n] = []byte(p)
	}
	opPages["serve log"] = []byte(cs.srv.output())
	opPages["export tar"] = exportTar
	opPages["report"] = []byte(report)
	scan(t, secrets, cs.dataDir, opPages)
}

// startOnStation starts a ceremony of kind (the form's default when "")
// from the page and returns its id.
func startOnStation(t *testing.T, cs *consoleSite, op context.Context, kind string) string {
	t.Helper()
	do(t, op, "the start form", chromedp.Navigate(cs.url), chromedp.WaitVisible("#param-quorum"))
	if kind != "" {
		eval[bool](t, op, `(() => { const k = document.getElementById("kind"); k.value = "`+kind+`"; k.dispatchEvent(new Event("change")); return true })()`)
		do(t, op, "the load's parameters", chromedp.WaitVisible("#param-key-set"))
	}
	do(t, op, "start", chromedp.Click("#start"), chromedp.WaitVisible("#pad"), chromedp.WaitVisible("#station-reader"))
	loc, err := chromedp.Run(op, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return loc[strings.LastIndex(loc, "/")+1:]
}

// driveStation plays the operator at a real station until the ceremony
// completes: OK at each question, a card put into the reader by hand at
// "Insert n. card" (the one in the reader stays if this ceremony has not
// used it yet, as a person would leave it; else the first card it has
// not used), its PIN typed in the web PIN pad, the card pulled when
// asked. *inReader is the card in the reader, across ceremonies.
func driveStation(t *testing.T, op context.Context, hand *operator, inReader *string) {
	t.Helper()
	prev := stationPad{}
	used := map[string]bool{}
	for step := 0; ; step++ {
		if step > 200 {
			t.Fatalf("the ceremony did not end after 200 steps; last display %+v", prev)
		}
		st := eval[stationPad](t, op, stationPadJS)
		if st.Phase == "completed" {
			return
		}
		if st.Ended == "true" && st.Line2 == "completed" {
			// The run ended: the page's phase follows with the last event.
			do(t, op, "the phase shows the end", until(`document.getElementById("status").dataset.phase === "completed"`))
			return
		}
		if st.Ended == "true" {
			t.Fatalf("the run ended in phase %s: %+v\n%s", st.Phase, st, eval[string](t, op, `document.body.innerText`))
		}
		if st == prev || (st.Waiting == "" && !(st.Line1 == "Remove card" && *inReader != "")) {
			do(t, op, "wait for the pad", until(fmt.Sprintf(`((s) => s.line1 !== %q || s.line2 !== %q || s.waiting !== %q || s.phase !== %q || s.ended !== %q)(%s)`,
				st.Line1, st.Line2, st.Waiting, st.Phase, st.Ended, stationPadJS)))
			continue
		}
		prev = st
		switch {
		case st.Waiting == "pin":
			do(t, op, "type the PIN", chromedp.WaitVisible("#pin"), chromedp.SendKeys("#pin", testPINs[*inReader]), chromedp.Click("#send-pin"))
		case strings.HasPrefix(st.Line1, "Insert ") && st.Waiting == "confirm":
			if st.Line1 == "Insert 1. card" {
				used = map[string]bool{} // a new round of cards (writing, reading back)
			}
			if *inReader == "" || used[*inReader] {
				for _, c := range []string{"card1", "card2", "card3"} {
					if !used[c] {
						hand.insert(c) // pulls the card in the reader first
						*inReader = c
						break
					}
				}
			}
			used[*inReader] = true
			do(t, op, "OK", chromedp.Click("#ok"))
		case st.Line1 == "Remove card" && *inReader != "":
			hand.pull()
			*inReader = ""
			continue // the display moves on once the runner sees the reader empty
		case st.Waiting == "confirm":
			do(t, op, "OK", chromedp.Click("#ok"))
		}
		do(t, op, "the display moves on", until(fmt.Sprintf(`((s) => s.line1 !== %q || s.line2 !== %q || s.waiting !== %q || s.phase !== %q)(%s)`,
			st.Line1, st.Line2, st.Waiting, st.Phase, stationPadJS)))
	}
}
