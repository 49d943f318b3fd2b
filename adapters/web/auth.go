package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"sync"
	"time"
)

// Session limits.
const (
	cookieName = "ceremony_session"
	csrfHeader = "X-CSRF-Token"
	// MaxFailures wrong passwords in a row lock logins to an account, or
	// from an address, for LockFor.
	MaxFailures = 5
	LockFor     = 15 * time.Minute
)

type session struct {
	token, csrf string
	name        string
	last        time.Time
}

type failures struct {
	n     int
	until time.Time
}

// auth holds the sessions and the failed-login counters, in memory: a
// restart of the service logs everyone out.
type auth struct {
	backend Backend
	idle    time.Duration
	now     func() time.Time

	mu       sync.Mutex
	sessions map[string]*session
	fails    map[string]*failures // "account:NAME", "address:IP"
}

func newAuth(b Backend, idle time.Duration, now func() time.Time) *auth {
	return &auth{backend: b, idle: idle, now: now, sessions: map[string]*session{}, fails: map[string]*failures{}}
}

func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("web: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// clientAddr is the peer's IP address (no proxy is trusted).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// locked reports whether logins to name or from addr are locked now.
func (a *auth) locked(name, addr string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for _, k := range []string{"account:" + name, "address:" + addr} {
		if f := a.fails[k]; f != nil && f.n >= MaxFailures && now.Before(f.until) {
			return true
		}
	}
	return false
}

func (a *auth) failed(name, addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for _, k := range []string{"account:" + name, "address:" + addr} {
		f := a.fails[k]
		if f == nil || (f.n >= MaxFailures && !now.Before(f.until)) {
			f = &failures{}
			a.fails[k] = f
		}
		f.n++
		f.until = now.Add(LockFor)
	}
}

// login checks a name and password and opens a session.
func (a *auth) login(name string, password []byte, addr string) (*session, *apiError) {
	if a.locked(name, addr) {
		return nil, &apiError{http.StatusTooManyRequests, "rate_limited", "too many wrong passwords for this account or from this address: wait 15 minutes, or ask an admin"}
	}
	if err := a.backend.CheckPassword(name, password); err != nil {
		a.failed(name, addr)
		return nil, &apiError{http.StatusUnauthorized, "bad_credentials", "wrong account name or password"}
	}
	if _, active, ok := a.backend.Account(name); !ok || !active {
		return nil, &apiError{http.StatusForbidden, "account_disabled", "this account is disabled or unknown: ask an admin"}
	}
	a.mu.Lock()
	delete(a.fails, "account:"+name)
	a.mu.Unlock()
	return a.open(name), nil
}

// open starts a session of an authenticated account.
func (a *auth) open(name string) *session {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := &session{token: randomToken(), csrf: randomToken(), name: name, last: a.now()}
	a.sessions[s.token] = s
	return s
}

// user returns the request's session and its account as it is now (a
// disabled account or a changed role takes effect at once).
func (a *auth) user(r *http.Request) (*session, Actor, *apiError) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, Actor{}, errLogin
	}
	a.mu.Lock()
	s := a.sessions[c.Value]
	now := a.now()
	if s != nil && now.Sub(s.last) > a.idle {
		delete(a.sessions, s.token)
		s = nil
	}
	if s != nil {
		s.last = now
	}
	a.mu.Unlock()
	if s == nil {
		return nil, Actor{}, errLogin
	}
	role, active, ok := a.backend.Account(s.name)
	if !ok || !active {
		a.logout(s.token)
		return nil, Actor{}, &apiError{http.StatusUnauthorized, "account_disabled", "this account is disabled: ask an admin"}
	}
	return s, Actor{Name: s.name, Role: role}, nil
}

func (a *auth) logout(token string) {
	a.mu.Lock()
	delete(a.sessions, token)
	a.mu.Unlock()
}

var errLogin = &apiError{http.StatusUnauthorized, "login_required", "log in first: POST /api/v1/login, or open /login"}

// csrfOK checks the request's CSRF token header against the session's.
func csrfOK(r *http.Request, s *session) bool {
	got := r.Header.Get(csrfHeader)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

func setSessionCookie(w http.ResponseWriter, s *session) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.token, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}
