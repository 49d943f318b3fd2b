package web

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net/http"
	"slices"
	"time"
)

//go:embed static templates openapi.json
var assets embed.FS

// Config is what a console needs.
type Config struct {
	Backend Backend
	// Station is what the ceremonies started here run on (the pages say
	// it).
	Station StationInfo
	// IdleTimeout ends a session nobody used for this long.
	IdleTimeout time.Duration
	// Now is the clock of sessions and login locks (time.Now when nil).
	Now func() time.Time
	// Log receives one line per refused or failed request; never a
	// password, a PIN or a session token.
	Log *log.Logger
}

// Server is the console's HTTP handler.
type Server struct {
	cfg   Config
	auth  *auth
	mux   *http.ServeMux
	pages *pages
}

// The roles the routes name.
const (
	roleAdmin    = "admin"
	roleOperator = "operator"
	roleWitness  = "witness"
	roleAuditor  = "auditor"
)

var readers = []string{roleOperator, roleWitness, roleAuditor}

// route is one API endpoint: who may call it and what it does. Routes is
// the one list the mux, the role checks and the OpenAPI test read.
type route struct {
	method, path string
	roles        []string // nil: no login needed
	h            func(s *Server, w http.ResponseWriter, r *http.Request, who Actor) *apiError
}

func routes() []route {
	return []route{
		{"POST", "/api/v1/login", nil, (*Server).apiLogin},
		{"POST", "/api/v1/login/certificate", nil, (*Server).apiLoginCertificate},
		{"POST", "/api/v1/logout", Roles(), (*Server).apiLogout},
		{"GET", "/api/v1/session", Roles(), (*Server).apiSession},
		{"GET", "/api/v1/kinds", readers, (*Server).apiKinds},
		{"GET", "/api/v1/ceremonies", readers, (*Server).apiList},
		{"POST", "/api/v1/ceremonies", []string{roleOperator}, (*Server).apiStart},
		{"GET", "/api/v1/ceremonies/{id}", readers, (*Server).apiShow},
		{"GET", "/api/v1/ceremonies/{id}/events", readers, (*Server).apiEvents},
		{"GET", "/api/v1/ceremonies/{id}/stream", readers, (*Server).apiStream},
		{"GET", "/api/v1/ceremonies/{id}/report", readers, (*Server).apiReport},
		{"POST", "/api/v1/ceremonies/{id}/abort", []string{roleOperator}, (*Server).apiAbort},
		{"POST", "/api/v1/ceremonies/{id}/key", []string{roleOperator}, (*Server).apiKey},
		{"POST", "/api/v1/ceremonies/{id}/extend", []string{roleOperator}, (*Server).apiExtend},
		{"POST", "/api/v1/ceremonies/{id}/retry", []string{roleOperator}, (*Server).apiRetry},
		{"POST", "/api/v1/ceremonies/{id}/resume", []string{roleOperator}, (*Server).apiResume},
		{"POST", "/api/v1/ceremonies/{id}/pin", []string{roleOperator}, (*Server).apiPIN},
		{"POST", "/api/v1/ceremonies/{id}/card", []string{roleOperator}, (*Server).apiCard},
		{"POST", "/api/v1/ceremonies/{id}/witness", []string{roleWitness}, (*Server).apiWitness},
		{"POST", "/api/v1/ceremonies/{id}/approve", []string{roleOperator}, (*Server).apiApprove},
		{"GET", "/api/v1/health", readers, (*Server).apiHealth},
		{"GET", "/api/v1/checkpoint", readers, (*Server).apiCheckpoint},
		{"GET", "/api/v1/keysets", readers, (*Server).apiKeySets},
		{"GET", "/api/v1/cards", readers, (*Server).apiCards},
		{"GET", "/api/v1/export", []string{roleAuditor}, (*Server).apiExport},
		{"GET", "/api/v1/accounts", []string{roleAdmin}, (*Server).apiAccounts},
		{"POST", "/api/v1/accounts", []string{roleAdmin}, (*Server).apiAccountAdd},
		{"POST", "/api/v1/accounts/{name}", []string{roleAdmin}, (*Server).apiAccountChange},
		{"POST", "/api/v1/accounts/{name}/password", []string{roleAdmin}, (*Server).apiAccountPassword},
	}
}

// Roles lists every role.
func Roles() []string { return []string{roleAdmin, roleOperator, roleWitness, roleAuditor} }

// New returns the console.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("web: a backend is required")
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 15 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = log.New(nopWriter{}, "", 0)
	}
	pg, err := loadPages()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, auth: newAuth(cfg.Backend, cfg.IdleTimeout, cfg.Now), mux: http.NewServeMux(), pages: pg}
	for _, rt := range routes() {
		s.mux.HandleFunc(rt.method+" "+rt.path, s.wrap(rt))
	}
	static, _ := fs.Sub(assets, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		b, _ := assets.ReadFile("openapi.json")
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, &apiError{http.StatusNotFound, "no_such_route", fmt.Sprintf("%s %s is not an API route: GET /api/v1/openapi.json lists them", r.Method, r.URL.Path)})
	})
	s.mux.HandleFunc("GET /login", s.pageLogin)
	s.mux.HandleFunc("GET /{$}", s.page("index"))
	s.mux.HandleFunc("GET /ceremonies/{id}", s.page("ceremony"))
	s.mux.HandleFunc("GET /accounts", s.page("accounts"))
	return s, nil
}

type nopWriter struct{}

func (nopWriter) Write(b []byte) (int, error) { return len(b), nil }

// ServeHTTP implements http.Handler, with the security headers every
// answer carries.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	s.mux.ServeHTTP(w, r)
}

// apiError is an API refusal: a status, a code and what to do.
type apiError struct {
	status        int
	code, message string
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	s.cfg.Log.Printf("web: %s %s from %s: %d %s", r.Method, r.URL.Path, clientAddr(r), e.status, e.code)
	writeJSON(w, e.status, map[string]string{"code": e.code, "message": e.message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// wrap checks the session, the role and, for a POST, the CSRF token.
func (s *Server) wrap(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var who Actor
		if rt.roles != nil {
			sess, actor, e := s.auth.user(r)
			if e != nil {
				s.writeError(w, r, e)
				return
			}
			if !slices.Contains(rt.roles, actor.Role) {
				s.writeError(w, r, &apiError{http.StatusForbidden, "forbidden", fmt.Sprintf("the %s role may not %s %s: it is for %v", actor.Role, rt.method, rt.path, rt.roles)})
				return
			}
			if r.Method != http.MethodGet && !csrfOK(r, sess) {
				s.writeError(w, r, &apiError{http.StatusForbidden, "csrf", "the request has no valid " + csrfHeader + " header: reload the page (GET /api/v1/session gives the token)"})
				return
			}
			who = actor
		} else if r.Method != http.MethodGet && r.Header.Get("Content-Type") != "application/json" {
			// A form cannot post JSON across sites without a preflight.
			s.writeError(w, r, &apiError{http.StatusUnsupportedMediaType, "json_required", "send the request as application/json"})
			return
		}
		if e := rt.h(s, w, r, who); e != nil {
			s.writeError(w, r, e)
		}
	}
}

// decode reads a JSON request body of at most 64 KiB into v.
func decode(r *http.Request, v any) *apiError {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf("the request body is not the JSON this route takes (%v): see /api/v1/openapi.json", err)}
	}
	return nil
}

// backendError maps a Backend error to an API error.
func backendError(err error) *apiError {
	var ue *UsageError
	switch {
	case errors.As(err, &ue):
		return &apiError{http.StatusBadRequest, "bad_request", ue.Msg}
	case errors.Is(err, ErrNotFound):
		return &apiError{http.StatusNotFound, "not_found", err.Error()}
	case errors.Is(err, ErrConflict):
		return &apiError{http.StatusConflict, "conflict", err.Error()}
	}
	return &apiError{http.StatusInternalServerError, "internal", err.Error()}
}
