package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/web"
	"github.com/chromedp/chromedp"
)

// consoleSite is a service with the console, its accounts, and a client
// that trusts the console's certificate only by the fingerprint the
// service printed.
type consoleSite struct {
	*site
	srv       *proc
	url       string
	pubKey    string
	cardsDir  string
	passwords map[string]string
	client    *http.Client
}

var consoleAccounts = map[string]string{"olga": "operator", "alan": "auditor", "wendy": "witness", "walt": "witness", "dave": "operator", "ada": "admin"}

func newConsoleSite(t *testing.T, serveArgs ...string) *consoleSite {
	t.Helper()
	cs := &consoleSite{site: newSite(t), cardsDir: filepath.Join(t.TempDir(), "console-cards"), passwords: map[string]string{}}
	for name, role := range consoleAccounts {
		pw := "pw-" + name + "-" + strings.Repeat("x7", 6)
		cs.passwords[name] = pw
		file := filepath.Join(t.TempDir(), name+".pw")
		if err := os.WriteFile(file, []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out := cs.runCLI(t, "account", "add", name, "--role", role, "--password-file", file); code != exitOK {
			t.Fatalf("account add %s: exit %d\n%s", name, code, out)
		}
	}
	cs.serve(t, serveArgs...)
	return cs
}

// serve starts the service with the console (again, after a stop: a new
// address, the same certificate).
func (cs *consoleSite) serve(t *testing.T, serveArgs ...string) {
	t.Helper()
	cs.srv = cs.start(append([]string{"serve", "--http=127.0.0.1:0", "--console-cards-dir", cs.cardsDir}, serveArgs...)...)
	cs.srv.waitFor(t, "serve: console on https://")
	out := cs.srv.output()
	m := regexp.MustCompile(`console on (https://[0-9.:]+/) \(exports signed by public key ([0-9a-f]+)\)`).FindStringSubmatch(out)
	fp := regexp.MustCompile(`fingerprint ([0-9A-F:]{95})`).FindStringSubmatch(out)
	if m == nil || fp == nil {
		t.Fatalf("serve printed no console URL, key or fingerprint:\n%s", out)
	}
	cs.url, cs.pubKey = m[1], m[2]
	cs.client = pinnedClient(t, fp[1])
}

// pinnedClient trusts exactly the certificate whose SHA-256 is fp.
func pinnedClient(t *testing.T, fp string) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if web.Fingerprint(raw[0]) != fp {
				return fmt.Errorf("the console's certificate is not the one serve printed")
			}
			return nil
		}}}
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: tr, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// apiCall sends a request and returns the status and decoded body.
func (cs *consoleSite) apiCall(t *testing.T, cl *http.Client, method, path, csrf string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, cs.url+strings.TrimPrefix(path, "/"), rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	json.Unmarshal(raw, &out)
	out["_raw"] = string(raw)
	return resp.StatusCode, out
}

// login returns a client logged in as name and its CSRF token.
func (cs *consoleSite) login(t *testing.T, name string) (*http.Client, string) {
	t.Helper()
	cl := pinnedClient(t, "")
	cl.Transport = cs.client.Transport
	code, out := cs.apiCall(t, cl, "POST", "/api/v1/login", "", map[string]string{"name": name, "password": cs.passwords[name]})
	if code != http.StatusOK {
		t.Fatalf("login %s: %d %v", name, code, out["_raw"])
	}
	return cl, out["csrf"].(string)
}

// browser starts headless Chromium (Debian's chromium; the test fails
// when it is missing) and returns the allocator's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (.ci/deps.sh installs it): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		// The certificate is self-signed; the Go client above checks its
		// fingerprint, the browser is told to accept it.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.WindowSize(1100, 1400),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	return actx
}

// tab opens a new browser context (its own cookies) on the allocator.
func tab(t *testing.T, actx context.Context, first bool) context.Context {
	t.Helper()
	var ctx context.Context
	var cancel context.CancelFunc
	if first {
		ctx, cancel = chromedp.NewContext(actx)
	} else {
		ctx, cancel = chromedp.NewContext(actx, chromedp.WithNewBrowserContext())
	}
	t.Cleanup(cancel)
	// The first action allocates the browser (or the tab) for the life of
	// ctx: it runs without a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	lctx, cancel := context.WithTimeout(ctx, 60*time.Second) // liveness bound
	defer cancel()
	if err := chromedp.Do(lctx, steps...); err != nil {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		page, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
		t.Fatalf("%s: %v\npage: %s", what, err, page)
	}
}

// doAcrossReload is do for steps that run while the page reloads: a step
// cut short by the navigation ("Inspected target navigated or closed") is
// run again on the new page, within do's liveness bound.
func doAcrossReload(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := chromedp.Do(lctx, steps...)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	lctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(lctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func (cs *consoleSite) browserLogin(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	do(t, ctx, "log in as "+name,
		chromedp.Navigate(cs.url),
		chromedp.WaitVisible("#login-form"),
		chromedp.SendKeys("#name", name),
		chromedp.SendKeys("#password", cs.passwords[name]),
		chromedp.Click("#login"),
		chromedp.WaitVisible("#ceremonies"),
	)
}

// padState is what the operator's live view shows.
type padState struct {
	Line1, Line2, Waiting, InReader, Phase, Ended string
}

const padJS = `({line1: document.getElementById("line1").textContent, line2: document.getElementById("line2").textContent,
  waiting: document.getElementById("pad").dataset.waiting || "", inReader: document.getElementById("in-reader").textContent,
  phase: document.getElementById("status").dataset.phase || "", ended: document.getElementById("pad").dataset.ended || ""})`

// TestConsoleInTheBrowser: an operator runs a 2-of-3 generate, then a load, on
// emulated cards only through the page, typing the PINs in the web PIN
// pad; an auditor in a second browser context watches the steps arrive
// without reloading; a witness signs off from a third; the auditor's
// export verifies; the refusals hold; no PIN or password is in any event,
// log, page or export.
func TestConsoleInTheBrowser(t *testing.T) {
	cs := newConsoleSite(t)
	actx := browser(t)
	op := tab(t, actx, true)
	cs.browserLogin(t, op, "olga")
	do(t, op, "start a generate", chromedp.WaitVisible("#start-form"), chromedp.WaitVisible("#param-quorum"), chromedp.Click("#start"), chromedp.WaitVisible("#pad"))
	loc, err := chromedp.Run(op, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	id := loc[strings.LastIndex(loc, "/")+1:]
	if !strings.HasPrefix(id, "gen-") {
		t.Fatalf("the start landed on %s, not a generate's page", loc)
	}
	do(t, op, "the rehearsal banner", chromedp.WaitVisible("#rehearsal-banner"))
	cs.extendFromThePage(t, op, id)

	aud := tab(t, op, false)
	cs.browserLogin(t, aud, "alan")
	do(t, aud, "open the live view", chromedp.Navigate(cs.url+"ceremonies/"+id), chromedp.WaitVisible("#events tbody tr"))
	eval[bool](t, aud, `window.__notReloaded = true`)
	if n := eval[int](t, aud, `document.querySelectorAll("#ok, #pin-form, #bench").length`); n != 0 {
		t.Fatalf("the auditor's page has %d operator controls", n)
	}

	pins := map[string]string{"card1": rehearsalPINs[0], "card2": rehearsalPINs[1], "card3": rehearsalPINs[2]}
	var shot []byte
	auditorCounts := driveThroughPage(t, op, aud, pins, func() {
		if shot == nil {
			shot = screenshot(t, op)
			axeCheck(t, op, "live view at a PIN prompt")
			axeCheck(t, aud, "the auditor's live view")
		}
	})
	// The auditor's page got every event without a reload.
	stored := cs.apiEvents(t, id)
	do(t, aud, "the auditor sees the end", until(fmt.Sprintf(`document.querySelectorAll("#events tbody tr").length >= %d`, len(stored))))
	if !eval[bool](t, aud, `window.__notReloaded === true`) {
		t.Fatal("the auditor's page was reloaded")
	}
	grew := 0
	for i := 1; i < len(auditorCounts); i++ {
		if auditorCounts[i] > auditorCounts[i-1] {
			grew++
		}
	}
	if grew < 3 {
		t.Fatalf("the auditor's events table grew %d times during the run (%v): steps did not arrive live", grew, auditorCounts)
	}
	audText := eval[string](t, aud, `document.getElementById("events").textContent`)
	for _, typ := range []string{"backupkey.share_written", "hsm.key_loaded"} {
		if !strings.Contains(audText, typ) {
			t.Errorf("the auditor's live view has no %s:\n%s", typ, audText)
		}
	}

	// A witness signs off from a third context.
	wit := tab(t, op, false)
	cs.browserLogin(t, wit, "wendy")
	do(t, wit, "sign off", chromedp.Navigate(cs.url+"ceremonies/"+id), chromedp.WaitVisible("#witness"),
		until(fmt.Sprintf(`document.querySelectorAll("#events tbody tr").length >= %d && document.getElementById("status").dataset.phase === "completed"`, len(stored))),
		chromedp.Click("#witness"),
		until(`document.getElementById("status").textContent === "Signed off." || document.querySelectorAll("#events tbody tr").length > `+fmt.Sprint(len(stored))))
	do(t, aud, "the auditor sees the sign-off", until(`document.getElementById("events").textContent.includes("ceremony.witnessed")`))
	axeCheck(t, wit, "the witness's view")
	axeCheck(t, aud, "the events of an ended ceremony")

	// Attribution: the start names the operator's account, the sign-off the witness's.
	ev := cs.eventsOf(t, id)
	if !strings.Contains(ev, `"operator":"olga"`) || !strings.Contains(ev, `"name":"wendy","role":"witness"`) {
		t.Fatalf("the events do not name the accounts that acted:\n%s", ev)
	}
	// Every action (start, extend, OK presses, PINs, sign-off) names its account.
	attributedActions(t, id, cs.apiEvents(t, id))

	// Then a load of that key set, also only through the page.
	do(t, op, "start a load", chromedp.Navigate(cs.url), chromedp.WaitVisible("#param-quorum"))
	eval[bool](t, op, `(() => { const k = document.getElementById("kind"); k.value = "backup-key-load"; k.dispatchEvent(new Event("change")); return true })()`)
	do(t, op, "start it", chromedp.WaitVisible("#param-key-set"), chromedp.Click("#start"), chromedp.WaitVisible("#pad"))
	loc, err = chromedp.Run(op, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	load := loc[strings.LastIndex(loc, "/")+1:]
	do(t, aud, "the auditor opens the load", chromedp.Navigate(cs.url+"ceremonies/"+load), chromedp.WaitVisible("#events tbody tr"))
	driveThroughPage(t, op, aud, pins, func() {})
	if ev := cs.eventsOf(t, load); !strings.Contains(ev, "hsm.key_loaded") || !strings.Contains(ev, `"operator":"olga"`) {
		t.Fatalf("the load through the page:\n%s", ev)
	}
	attributedActions(t, load, cs.apiEvents(t, load))

	do(t, aud, "the auditor's dashboard", chromedp.Navigate(cs.url), chromedp.WaitVisible("#export"), until(`document.querySelectorAll("#health li").length > 0`))
	// The dashboard: the key set with its quorum margin (3 usable shares
	// for a threshold of 2), the three cards that hold them.
	do(t, aud, "the key set and its cards", until(`document.querySelectorAll("#cards tbody tr[id^=card-]").length === 3 && document.querySelectorAll("#keysets tbody tr[id^=keyset-]").length === 1`))
	if ks := eval[string](t, aud, `Array.from(document.querySelectorAll("#keysets tbody tr[id^=keyset-] td")).map((c) => c.textContent).join("|")`); !strings.Contains(ks, "|live|2 of 3|") || !strings.HasSuffix(ks, "|3|+1") {
		t.Errorf("the dashboard's key set row: %s, want live, 2 of 3, 3 usable, margin +1", ks)
	}
	if cards := eval[string](t, aud, `document.querySelector("#cards tbody").textContent`); strings.Count(cards, "share ") != 3 {
		t.Errorf("the dashboard's card registry: %s, want three cards holding a share", cards)
	}
	axeCheck(t, aud, "dashboard with health and export")
	do(t, wit, "the printable report", chromedp.Navigate(cs.url+"api/v1/ceremonies/"+id+"/report"),
		until(`document.readyState === "complete" && document.title.startsWith("Ceremony report")`))
	// Its own style applies (the console's policy lets the report's inline
	// style through, and nothing else).
	if f := eval[string](t, wit, `getComputedStyle(document.body).fontFamily`); f != "sans-serif" {
		t.Errorf("the report's style is not applied in the console (body font %q, want its sans-serif)", f)
	}
	// Its content is in its main landmark (axe-core's moderate region and
	// landmark-one-main, checked here as failures).
	axeCheck(t, wit, "the printable report", "region", "landmark-one-main")
	pages := map[string][]byte{}
	for name, ctx := range map[string]context.Context{"operator": op, "auditor": aud, "witness": wit} {
		pages["page of "+name] = []byte(eval[string](t, ctx, `document.documentElement.outerHTML`))
	}
	if shot == nil {
		t.Fatal("no screenshot of the PIN prompt was taken")
	}
	saveScreenshot(t, shot)

	cs.streamResumes(t, id, stored)
	exportTar := cs.auditorExportVerifies(t)
	pages["export tar"] = exportTar
	cs.refusals(t, id)

	// Secret scan: the PINs typed in the web PIN pad and the passwords.
	secrets := map[string][]byte{}
	for c, p := range pins {
		secrets["PIN of "+c] = []byte(p)
	}
	for n, p := range cs.passwords {
		secrets["password of "+n] = []byte(p)
	}
	pages["serve log"] = []byte(cs.srv.output())
	scan(t, secrets, cs.dataDir, pages)
}

// driveThroughPage plays the operator on the live view until the
// ceremony completes: OK at each question, the asked card inserted from
// the emulated reader, its PIN typed in the web PIN pad, the card pulled
// when asked. atPIN runs at each PIN prompt. It returns the auditor's
// event count after each action.
func driveThroughPage(t *testing.T, op, aud context.Context, pins map[string]string, atPIN func(), atDesk ...func()) []int {
	t.Helper()
	var auditorCounts []int
	prev := padState{}
	for step := 0; ; step++ {
		if step > 200 {
			t.Fatalf("the ceremony did not end after 200 steps; last display %+v", prev)
		}
		st := eval[padState](t, op, padJS)
		if st.Phase == "completed" {
			break
		}
		if st.Line1 == "Witness sign-off" && len(atDesk) > 0 && st != prev {
			// The run waits at its witness desk: the witnesses sign off.
			prev = st
			atDesk[0]()
			continue
		}
		if st == prev || (st.Waiting == "" && st.Line1 != "Remove card") {
			do(t, op, "wait for the pad", until(changedJS(st)))
			continue
		}
		prev = st
		switch {
		case st.Waiting == "pin":
			atPIN()
			do(t, op, "type the PIN", chromedp.WaitVisible("#pin"), chromedp.SendKeys("#pin", pins[st.InReader]), chromedp.Click("#send-pin"))
		case strings.HasPrefix(st.Line1, "Insert ") && st.Waiting == "confirm":
			var n int
			fmt.Sscanf(st.Line1, "Insert %d. card", &n)
			want := fmt.Sprintf("card%d", n)
			if st.InReader != want {
				// A click by the element, not by pointer coordinates: under
				// load a live update can move the button under the pointer.
				do(t, op, "see the insert button", chromedp.WaitVisible("#insert-"+want))
				eval[bool](t, op, `(() => { document.getElementById("insert-`+want+`").click(); return true })()`)
				do(t, op, "insert "+want, until(`document.getElementById("in-reader").textContent === "`+want+`"`))
			}
			do(t, op, "OK", chromedp.Click("#ok"))
		case st.Line1 == "Remove card" && st.InReader != "none":
			do(t, op, "pull", chromedp.Click("#pull"))
		case st.Waiting == "confirm":
			do(t, op, "OK", chromedp.Click("#ok"))
		}
		// The display moves on before the next action.
		do(t, op, "the display moves on", until(fmt.Sprintf(`((s) => s.line1 !== %q || s.line2 !== %q || s.waiting !== %q || s.phase !== %q)(%s)`,
			st.Line1, st.Line2, st.Waiting, st.Phase, padJS)))
		auditorCounts = append(auditorCounts, eval[int](t, aud, `document.querySelectorAll("#events tbody tr").length`))
	}
	return auditorCounts
}

// until waits for a JavaScript predicate (polled on DOM changes).
func until(js string, opts ...chromedp.PollOption) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		opts = append(opts, chromedp.WithPollingTimeout(60*time.Second))
		_, err := chromedp.Poll[bool](js, opts...)(ctx, t)
		return chromedp.Void{}, err
	}
}

// changedJS is a predicate: the operator's view differs from p.
func changedJS(p padState) string {
	return fmt.Sprintf(`((s) => s.line1 !== %q || s.line2 !== %q || s.waiting !== %q || s.inReader !== %q || s.phase !== %q || s.ended !== %q)(%s)`,
		p.Line1, p.Line2, p.Waiting, p.InReader, p.Phase, p.Ended, padJS)
}

func screenshot(t *testing.T, ctx context.Context) []byte {
	t.Helper()
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return b
}

// saveScreenshot keeps the live view's screenshot in the test's
// artifacts, and in docs/ for the README with UPDATE_SCREENSHOT=1
// (make screenshot).
func saveScreenshot(t *testing.T, png []byte) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "console-live.png")
	if os.Getenv("UPDATE_SCREENSHOT") == "1" {
		dst = filepath.Join("..", "..", "docs", "console-live.png")
	}
	if err := os.WriteFile(dst, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the live view: %s", dst)
}

func (cs *consoleSite) eventsOf(t *testing.T, id string) string {
	t.Helper()
	code, out := cs.runCLI(t, "events", id, "--json")
	if code != exitOK {
		code, out = cs.runCLI(t, "events", id)
	}
	if code != exitOK {
		t.Fatalf("events %s: exit %d\n%s", id, code, out)
	}
	return out
}

// apiEvents returns a ceremony's stored events as the API gives them.
func (cs *consoleSite) apiEvents(t *testing.T, id string) []web.Event {
	t.Helper()
	cl, _ := cs.login(t, "alan")
	resp, err := cl.Get(cs.url + "api/v1/ceremonies/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var evs []web.Event
	if err := json.NewDecoder(resp.Body).Decode(&evs); err != nil || resp.StatusCode != 200 {
		t.Fatalf("events of %s: %d %v", id, resp.StatusCode, err)
	}
	return evs
}

// streamResumes: a stream opened with Last-Event-ID N sends the events
// after stream sequence N, in order, each with its sequence as id.
func (cs *consoleSite) streamResumes(t *testing.T, id string, stored []web.Event) {
	t.Helper()
	if len(stored) < 4 {
		t.Fatalf("%d events: too few to resume in the middle", len(stored))
	}
	from := len(stored) - 3
	cl, _ := cs.login(t, "alan")
	req, _ := http.NewRequest("GET", cs.url+"api/v1/ceremonies/"+id+"/stream", nil)
	req.Header.Set("Last-Event-ID", fmt.Sprint(stored[from].Seq))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := cl.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var ids []string
	for len(ids) < 2 && sc.Scan() {
		if after, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
			ids = append(ids, after)
		}
	}
	want := []string{fmt.Sprint(stored[from+1].Seq), fmt.Sprint(stored[from+2].Seq)}
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Fatalf("the stream resumed after %d with ids %v, want %v", stored[from].Seq, ids, want)
	}
}

// auditorExportVerifies downloads the signed export as the auditor and
// has 'audit verify' check it with the key the service printed.
func (cs *consoleSite) auditorExportVerifies(t *testing.T) []byte {
	t.Helper()
	cl, _ := cs.login(t, "alan")
	resp, err := cl.Get(cs.url + "api/v1/export")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-tar" {
		t.Fatalf("export: %d %s", resp.StatusCode, raw)
	}
	dir := filepath.Join(t.TempDir(), "export")
	os.MkdirAll(dir, 0o700)
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		os.WriteFile(filepath.Join(dir, filepath.Base(h.Name)), b, 0o644)
	}
	if code, out := cs.runBare(t, "audit", "verify", dir, "--public-key", cs.pubKey); code != exitOK {
		t.Fatalf("audit verify of the console's export: exit %d\n%s", code, out)
	}
	return raw
}

// refusals: unauthenticated, wrong role, no CSRF token, wrong passwords,
// a disabled account.
func (cs *consoleSite) refusals(t *testing.T, id string) {
	t.Helper()
	anon := pinnedClient(t, "")
	anon.Transport = cs.client.Transport
	resp, err := anon.Get(cs.url + "ceremonies/" + id)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("a page without a session: %d to %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, out := cs.apiCall(t, anon, "GET", "/api/v1/ceremonies", "", nil); code != 401 || out["code"] != "login_required" {
		t.Errorf("the API without a session: %d %v", code, out["_raw"])
	}
	aud, audCSRF := cs.login(t, "alan")
	if code, out := cs.apiCall(t, aud, "POST", "/api/v1/ceremonies", audCSRF, map[string]any{"kind": "backup-key-generate"}); code != 403 || out["code"] != "forbidden" {
		t.Errorf("an auditor starting a ceremony: %d %v", code, out["_raw"])
	}
	adm, admCSRF := cs.login(t, "ada")
	if code, _ := cs.apiCall(t, adm, "GET", "/api/v1/ceremonies", admCSRF, nil); code != 403 {
		t.Errorf("an admin reading ceremonies: %d, want 403 (admins manage accounts only)", code)
	}
	op, opCSRF := cs.login(t, "olga")
	if code, out := cs.apiCall(t, op, "POST", "/api/v1/ceremonies/"+id+"/abort", "", map[string]string{"reason": "x"}); code != 403 || out["code"] != "csrf" {
		t.Errorf("a POST without the CSRF token: %d %v", code, out["_raw"])
	}
	// A bad parameter gets the kind's own message; an abort names the account.
	if code, out := cs.apiCall(t, op, "POST", "/api/v1/ceremonies", opCSRF, map[string]any{"kind": "backup-key-generate", "params": map[string]string{"quorum": "4-of-3"}}); code != 400 || !strings.Contains(out["message"].(string), "4-of-3") {
		t.Errorf("a bad quorum: %d %v", code, out["_raw"])
	}
	code, out := cs.apiCall(t, op, "POST", "/api/v1/ceremonies", opCSRF, map[string]any{"kind": "backup-key-generate"})
	if code != 201 {
		t.Fatalf("start: %d %v", code, out["_raw"])
	}
	second := out["id"].(string)
	if code, out := cs.apiCall(t, op, "POST", "/api/v1/ceremonies/"+second+"/abort", opCSRF, map[string]string{"reason": "rehearsal over"}); code != 200 {
		t.Fatalf("abort: %d %v", code, out["_raw"])
	}
	if ev := cs.eventsOf(t, second); !strings.Contains(ev, `"reason":"rehearsal over","by":"olga"`) {
		t.Errorf("the abort does not name the account:\n%s", ev)
	}
	attributedActions(t, second, cs.apiEvents(t, second))
	if code, out := cs.apiCall(t, op, "POST", "/api/v1/ceremonies/"+second+"/abort", opCSRF, map[string]string{"reason": "again"}); code != 409 {
		t.Errorf("a second abort: %d %v, want 409", code, out["_raw"])
	}
	// A disabled account: its session ends, and it cannot log in.
	dave, daveCSRF := cs.login(t, "dave")
	if code, out := cs.runCLI(t, "account", "disable", "dave"); code != exitOK {
		t.Fatalf("account disable: exit %d\n%s", code, out)
	}
	waitUntil(t, "the service sees dave disabled", func() bool {
		code, _ := cs.apiCall(t, dave, "GET", "/api/v1/session", daveCSRF, nil)
		return code == 401
	})
	dl := pinnedClient(t, "")
	dl.Transport = cs.client.Transport
	if code, out := cs.apiCall(t, dl, "POST", "/api/v1/login", "", map[string]string{"name": "dave", "password": cs.passwords["dave"]}); code != 403 || out["code"] != "account_disabled" {
		t.Errorf("a disabled account logging in: %d %v", code, out["_raw"])
	}
	// Wrong passwords: MaxFailures refusals, then even the right one is
	// refused (last: the lock holds for the address too).
	for i := 0; i < web.MaxFailures; i++ {
		if code, out := cs.apiCall(t, anon, "POST", "/api/v1/login", "", map[string]string{"name": "wendy", "password": "wrong-password-" + fmt.Sprint(i)}); code != 401 {
			t.Fatalf("wrong password %d: %d %v", i+1, code, out["_raw"])
		}
	}
	if code, out := cs.apiCall(t, anon, "POST", "/api/v1/login", "", map[string]string{"name": "wendy", "password": cs.passwords["wendy"]}); code != 429 || out["code"] != "rate_limited" {
		t.Errorf("login after %d wrong passwords: %d %v, want 429", web.MaxFailures, code, out["_raw"])
	}
}

// waitUntil polls cond (a liveness bound, not a speed assertion).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 60s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
