package web

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// accountsOnly is a Backend that knows accounts and nothing else: the
// session rules below need no store (a pure unit test).
type accountsOnly struct {
	Backend
	role   string
	active bool
}

func (b *accountsOnly) Account(string) (string, bool, bool) { return b.role, b.active, true }
func (b *accountsOnly) CheckPassword(_ string, pw []byte) error {
	if string(pw) != "right-password" {
		return errors.New("wrong")
	}
	return nil
}
func (b *accountsOnly) Health() []Finding { return []Finding{} }

// logIn logs name in on srv with the password accountsOnly takes and
// returns the response: its first cookie is the session's.
func logIn(t *testing.T, srv http.Handler, name string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(`{"name":"`+name+`","password":"right-password"}`))
	req.Header.Set("Content-Type", "application/json")
	srv.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	return rec
}

func TestIdleTimeoutEndsTheSession(t *testing.T) {
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	srv, err := New(Config{Backend: &accountsOnly{role: roleAuditor, active: true}, IdleTimeout: 10 * time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	cookie := logIn(t, srv, "a").Result().Cookies()[0]
	if !cookie.Secure || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v: want Secure, HttpOnly, SameSite=Strict", cookie)
	}
	get := func() int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/api/v1/health", nil)
		req.AddCookie(cookie)
		srv.ServeHTTP(rec, req)
		return rec.Code
	}
	now = now.Add(9 * time.Minute)
	if c := get(); c != 200 {
		t.Fatalf("9 minutes idle: %d, want 200", c)
	}
	now = now.Add(9 * time.Minute) // 9 since the last use
	if c := get(); c != 200 {
		t.Fatalf("9 minutes after the last use: %d, want 200", c)
	}
	now = now.Add(11 * time.Minute)
	if c := get(); c != 401 {
		t.Fatalf("11 minutes idle: %d, want 401", c)
	}
}

func TestLoginLockExpires(t *testing.T) {
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	srv, err := New(Config{Backend: &accountsOnly{role: roleAuditor, active: true}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	login := func(pw string) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(`{"name":"a","password":"`+pw+`"}`))
		req.Header.Set("Content-Type", "application/json")
		srv.ServeHTTP(rec, req)
		io.Copy(io.Discard, rec.Body)
		return rec.Code
	}
	for i := 0; i < MaxFailures; i++ {
		if c := login("nope-nope-nope"); c != 401 {
			t.Fatalf("wrong password %d: %d", i, c)
		}
	}
	if c := login("right-password"); c != 429 {
		t.Fatalf("locked: %d, want 429", c)
	}
	now = now.Add(LockFor + time.Second)
	if c := login("right-password"); c != 200 {
		t.Fatalf("after the lock: %d, want 200", c)
	}
}

func TestPlainHTTPOnLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:8080": true, "[::1]:8080": true, "0.0.0.0:8080": false, "192.168.1.5:80": false, "localhost:80": false, "nonsense": false} {
		if err := CheckPlainHTTP(addr); (err == nil) != ok {
			t.Errorf("plain HTTP on %s: %v", addr, err)
		}
	}
}
