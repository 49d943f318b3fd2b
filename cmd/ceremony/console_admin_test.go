package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/web"
	"github.com/chromedp/chromedp"
)

// TestConsoleAdminPages: an admin manages accounts from the accounts page
// only: adds one (the password typed twice; a mismatch is refused),
// disables and enables it, changes its role and resets its password; each
// change is an account.changed naming the admin, and takes effect at
// once. Non-admins cannot reach the page or its API; an admin cannot lock
// themselves out; no password is in any event, log, page or file. The
// site runs with --dual-control: dualControlInTheConsole runs on it.
func TestConsoleAdminPages(t *testing.T) {
	cs := newConsoleSite(t, "--dual-control", "backup-key-generate,backup-key-load")
	actx := browser(t)
	adm := tab(t, actx, true)
	do(t, adm, "the admin logs in and lands on the accounts page", chromedp.Navigate(cs.url), chromedp.WaitVisible("#login-form"),
		chromedp.SendKeys("#name", "ada"), chromedp.SendKeys("#password", cs.passwords["ada"]), chromedp.Click("#login"),
		chromedp.WaitVisible("#add-form"), until(fmt.Sprintf(`document.querySelectorAll("#accounts tbody tr").length === %d`, len(consoleAccounts))))
	if loc := eval[string](t, adm, `location.pathname`); loc != "/accounts" {
		t.Fatalf("the admin landed on %s", loc)
	}
	axeCheck(t, adm, "accounts page")

	const pw1, pw2 = "nina-first-password-9", "nina-second-password-7"
	do(t, adm, "a mismatched password is refused", chromedp.SendKeys("#new-name", "nina"), chromedp.SetValue("#new-role", "witness"),
		chromedp.SendKeys("#new-password", pw1), chromedp.SendKeys("#new-password-again", pw1+"x"), chromedp.Click("#add"),
		until(`document.getElementById("error").textContent.includes("differ")`))
	do(t, adm, "add nina", chromedp.SendKeys("#new-password", pw1), chromedp.SendKeys("#new-password-again", pw1), chromedp.Click("#add"),
		chromedp.WaitVisible("#account-nina"))
	if v := eval[string](t, adm, `document.getElementById("new-password").value + document.getElementById("new-password-again").value`); v != "" {
		t.Fatal("the password fields keep the password after the add")
	}
	cs.passwords["nina"] = pw1
	nina, _ := cs.login(t, "nina")
	if code, out := cs.apiCall(t, nina, "GET", "/api/v1/session", "", nil); code != 200 || out["role"] != "witness" {
		t.Fatalf("nina's session: %d %v", code, out["_raw"])
	}

	do(t, adm, "disable nina", chromedp.Click("#disable-nina"), chromedp.WaitVisible("#enable-nina"))
	if code, _ := cs.apiCall(t, nina, "GET", "/api/v1/session", "", nil); code != 401 {
		t.Errorf("a disabled account's session answers %d, want 401", code)
	}
	do(t, adm, "enable nina", chromedp.Click("#enable-nina"), chromedp.WaitVisible("#disable-nina"))
	do(t, adm, "nina becomes an auditor", chromedp.SetValue("#role-nina", "auditor"), chromedp.Click("#set-role-nina"),
		until(`document.querySelector("#account-nina td:nth-child(2)").textContent === "auditor"`))
	do(t, adm, "reset nina's password", chromedp.SetValue("#reset-name", "nina"), chromedp.SendKeys("#reset-password", pw2),
		chromedp.SendKeys("#reset-password-again", pw2), chromedp.Click("#reset"),
		until(`document.getElementById("status").textContent.includes("password of nina is set")`))
	anon := pinnedClient(t, "")
	anon.Transport = cs.client.Transport
	if code, _ := cs.apiCall(t, anon, "POST", "/api/v1/login", "", map[string]string{"name": "nina", "password": pw1}); code != 401 {
		t.Errorf("the old password after the reset: %d, want 401", code)
	}
	cs.passwords["nina"] = pw2
	nina, _ = cs.login(t, "nina")
	if code, out := cs.apiCall(t, nina, "GET", "/api/v1/session", "", nil); code != 200 || out["role"] != "auditor" {
		t.Errorf("nina after the changes: %d %v", code, out["_raw"])
	}

	// Every change is an account.changed by the admin.
	alan, _ := cs.login(t, "alan")
	resp, err := alan.Get(cs.url + "api/v1/ceremonies")
	if err != nil {
		t.Fatal(err)
	}
	var list []web.Ceremony
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	var changes []string
	for _, c := range list {
		if c.Kind != "account-change" {
			continue
		}
		for _, e := range cs.apiEvents(t, c.ID) {
			p := string(e.Payload)
			if !strings.Contains(p, `"name":"nina"`) {
				continue
			}
			if !strings.Contains(p, `"by":"ada"`) {
				t.Errorf("an account change of nina does not name the admin: %s", p)
			}
			for _, ch := range []string{"created", "disabled", "enabled", "role_changed", "password_changed"} {
				if strings.Contains(p, `"change":"`+ch+`"`) {
					changes = append(changes, ch)
				}
			}
		}
	}
	if len(changes) != 5 {
		t.Errorf("nina's account changes recorded: %v, want created, disabled, enabled, role_changed, password_changed", changes)
	}

	// Refusals: a non-admin, the admin's own account, a short password.
	olga, olgaCSRF := cs.login(t, "olga")
	if code, _ := cs.apiCall(t, olga, "GET", "/api/v1/accounts", "", nil); code != http.StatusForbidden {
		t.Errorf("an operator listing accounts: %d, want 403", code)
	}
	if code, _ := cs.apiCall(t, olga, "POST", "/api/v1/accounts/nina", olgaCSRF, map[string]string{"change": "disabled"}); code != http.StatusForbidden {
		t.Errorf("an operator disabling an account: %d, want 403", code)
	}
	resp, err = olga.Get(cs.url + "accounts")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("an operator opening the accounts page: %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	ada, adaCSRF := cs.login(t, "ada")
	if code, out := cs.apiCall(t, ada, "POST", "/api/v1/accounts/ada", adaCSRF, map[string]string{"change": "disabled"}); code != http.StatusConflict || out["code"] != "own_account" {
		t.Errorf("an admin disabling their own account: %d %v", code, out["_raw"])
	}
	if code, out := cs.apiCall(t, ada, "POST", "/api/v1/accounts", adaCSRF, map[string]string{"name": "omar", "role": "operator", "password": "short", "password_again": "short"}); code != http.StatusBadRequest || !strings.Contains(out["message"].(string), "at least") {
		t.Errorf("a short password: %d %v", code, out["_raw"])
	}
	if code, out := cs.apiCall(t, ada, "POST", "/api/v1/accounts", adaCSRF, map[string]string{"name": "omar", "role": "boss", "password": pw1, "password_again": pw1}); code != http.StatusBadRequest {
		t.Errorf("an unknown role: %d %v", code, out["_raw"])
	}

	secrets := map[string][]byte{"nina's first password": []byte(pw1), "nina's second password": []byte(pw2)}
	for n, p := range cs.passwords {
		secrets["password of "+n] = []byte(p)
	}
	dualControlInTheConsole(t, cs, adm)
	scan(t, secrets, cs.dataDir, map[string][]byte{
		"accounts page": []byte(eval[string](t, adm, `document.documentElement.outerHTML`)),
		"serve log":     []byte(cs.srv.output()),
	})
}
