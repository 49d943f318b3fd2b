package web

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies"
)

func (s *Server) apiLogin(w http.ResponseWriter, r *http.Request, _ Actor) *apiError {
	var req struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if e := decode(r, &req); e != nil {
		return e
	}
	pw := []byte(req.Password)
	defer ceremonies.Wipe(pw)
	sess, e := s.auth.login(req.Name, pw, clientAddr(r))
	if e != nil {
		return e
	}
	role, _, _ := s.cfg.Backend.Account(req.Name)
	setSessionCookie(w, sess)
	writeJSON(w, http.StatusOK, map[string]string{"name": req.Name, "role": role, "csrf": sess.csrf})
	return nil
}

func (s *Server) apiLogout(w http.ResponseWriter, r *http.Request, _ Actor) *apiError {
	if c, err := r.Cookie(cookieName); err == nil {
		s.auth.logout(c.Value)
	}
	clearSessionCookie(w)
	writeJSON(w, http.StatusOK, map[string]string{})
	return nil
}

func (s *Server) apiSession(w http.ResponseWriter, r *http.Request, who Actor) *apiError {
	sess, _, e := s.auth.user(r)
	if e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": who.Name, "role": who.Role, "csrf": sess.csrf, "idle_timeout_seconds": int(s.cfg.IdleTimeout / time.Second)})
	return nil
}

func (s *Server) apiKinds(w http.ResponseWriter, _ *http.Request, _ Actor) *apiError {
	writeJSON(w, http.StatusOK, s.cfg.Backend.Kinds())
	return nil
}

func (s *Server) apiList(w http.ResponseWriter, _ *http.Request, _ Actor) *apiError {
	writeJSON(w, http.StatusOK, s.cfg.Backend.Ceremonies())
	return nil
}

func (s *Server) apiStart(w http.ResponseWriter, r *http.Request, who Actor) *apiError {
	var req struct {
		Kind   string            `json:"kind"`
		Params map[string]string `json:"params"`
	}
	if e := decode(r, &req); e != nil {
		return e
	}
	id, err := s.cfg.Backend.Start(r.Context(), who, req.Kind, req.Params)
	if err != nil {
		return backendError(err)
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": id})
	return nil
}

func (s *Server) apiShow(w http.ResponseWriter, r *http.Request, _ Actor) *apiError {
	d, err := s.cfg.Backend.Ceremony(r.PathValue("id"))
	if err != nil {
		return backendError(err)
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) apiEvents(w http.ResponseWriter, r *http.Request, _ Actor) *apiError {
	evs, err := s.cfg.Backend.Events(r.Context(), r.PathValue("id"))
	if err != nil {
		return backendError(err)
	}
	writeJSON(w, http.StatusOK, evs)
	return nil
}

func (s *Server) apiReport(w http.ResponseWriter, r *http.Request, _ Actor) *apiError {
	var buf bytes.Buffer
	if err := s.cfg.Backend.Report(r.Context(), r.PathValue("id"), &buf); err != nil {
		return backendError(err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The report is a standalone printable page: its own inline style
	// (the @page margin boxes that mark a rehearsal on every printed
	// page), no script, nothing else loaded.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'")
	w.Write(buf.Bytes())
	return nil
}

func (s *Server) apiAbort(w http.ResponseWriter, r *http.Request, who Actor) *apiError {
	var req struct {
		Reason string `json:"reason"`
	}
	if e := decode(r, &req); e != nil {
		return e
	}
	if req.Reason == "" {
		return &apiError{http.StatusBadRequest, "bad_request", "give a reason: the abort event records it"}
	}
	if err := s.cfg.Backend.Abort(r.Context(), who, r.PathValue("id"), req.Reason); err != nil {
		return backendError(err)
	}
	writeJSON(w, http.StatusOK, map[string]string{})
	return nil
}

func (s *Server) livePad(r *http.Request) (*Pad, Station, *apiError) {
	pad, st, ok := s.cfg.Backend.Live(r.PathValue("id"))
	if !ok {
		return nil, nil, &apiError{http.StatusConflict, "not_live", fmt.Sprintf("ceremony %q is not running in this console: start it here or resume it", r.PathValue("id"))}
	}
	return pad, st, nil
}

func (s *Server) apiKey(w http.ResponseWriter, r *http.Request, who Actor) *apiError {
	var req struct {
		Key string `json:"key"`
	}
	if e := decode(r, &req); e != nil {
		return e
	}
	pad, _, e := s.livePad(r)
	if e != nil {
		return e
	}
	var ok bool
	switch req.Key {
	case "ok":
		ok = true
	case "cancel":
	default:
		return &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf("key %q: give ok or cancel", req.Key)}
	}
	if err := pad.Press(ok, who.Name); err != nil {
		return &apiError{http.StatusConflict, "not_waiting", err.Error()}
	}
	writeJSON(w, http.StatusOK, map[string]string{})
	return nil
}

// apiPIN hands the PIN to the runner. The PIN is in this request's body
// only (over TLS); it is never logged, stored or echoed. It is read as
// bytes (readPIN), never a string, and the runner wipes it after use.
func (s *Server) apiPIN(w http.ResponseWriter, r *http.Request, who Actor) *apiError {
	pin, e := readPIN(r.Body)
	if e != nil {
		return e
	}
	if len(pin) < 6 || len(pin) > 127 {
		ceremonies.Wipe(pin)
		return &apiError{http.StatusBadRequest, "bad_pin", "a PIN has 6 to 127 characters"}
	}
	pad, _, e := s.livePad(r)
	if e != nil {
		ceremonies.Wipe(pin)
		return e
	}
	if err := pad.PIN(pin, who.Name); err != nil {
		return &apiError{http.StatusConflict, "not_waiting", err.Error()}
	}
	writeJSON(w, http.StatusOK, map[string]string{})
	return nil
}

func (s *Server) apiCard(w http.ResponseWriter, r *http.Request, _ Actor) *apiError {
	var req struct {
		Action string `json:"action"`
		Card   string `json:"card"`
	}
	if e := decode(r, &req); e != nil {
		return e
	}
	_, st, e := s.livePad(r)
	if e != nil {
		return e
	}
	if st == nil {
		return &apiError{http.StatusConflict, "not_emulated", "this station's reader is real: insert and pull the card by hand"}
	}
	var err error
	switch req.Action {
	case "insert":
		err = st.Insert(req.Card)
	case "pull":
		err = st.Pull()
	default:
		return &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf("action %q: give insert or pull", req.Action)}
	}
	if err != nil {
		return backendError(err)
	}
	writeJSON(w, http.StatusOK, st.Bench())
	return nil
}

func (s *Server) apiWitness(w http.ResponseWriter, r *http.Request, who Actor) *apiError {
	var req struct {
		Statement string `json:"statement"`
	}
	if e := decode(r, &req); e != nil {
		return e
	}
	if req.Statement == "" {
		req.Statement = "I witnessed this ceremony as recorded up to this point"
	}
	if err := s.cfg.Backend.Witness(r.Context(), who, r.PathValue("id"), req.Statement); err != nil {
		return backendError(err)
	}
	writeJSON(w, http.StatusOK, map[string]string{})
	return nil
}

// apiApprove is a second operator's approval of a ceremony under dual
// control (ceremony.approved): only an operator reaches it, and not the
// one who started the ceremony (409).
func (s *Server) apiApprove(w http.ResponseWriter, r *http.Request, who Actor) *apiError {
	if err := s.cfg.Backend.Approve(r.Context(), who, r.PathValue("id")); err != nil {
		return backendError(err)
	}
	writeJSON(w, http.StatusOK, map[string]string{})
	return nil
}

func (s *Server) apiHealth(w http.ResponseWriter, _ *http.Request, _ Actor) *apiError {
	writeJSON(w, http.StatusOK, s.cfg.Backend.Health())
	return nil
}

// apiCheckpoint serves the signed checkpoint as the C2SP note it is
// (ARCHITECTURE.md, "Audit").
func (s *Server) apiCheckpoint(w http.ResponseWriter, r *http.Request, _ Actor) *apiError {
	note, err := s.cfg.Backend.Checkpoint(r.Context())
	if err != nil {
		return backendError(err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(note)
	return nil
}

// apiExport streams the backend's export: the response starts with the
// export's first byte, so that a failure before it (the backend does all
// that can fail first: Backend.Export) is an error status, and one after
// it cuts the download (http.ErrAbortHandler), which 'ceremony audit
// verify' refuses. Memory does not grow with the export.
func (s *Server) apiExport(w http.ResponseWriter, r *http.Request, _ Actor) *apiError {
	name := "ceremony-export-" + s.cfg.Now().UTC().Format("20060102T150405Z") + ".tar"
	out := &firstWrite{w: w, start: func() {
		w.Header().Set("Content-Type", "application/x-tar")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		w.WriteHeader(http.StatusOK)
	}}
	if err := s.cfg.Backend.Export(r.Context(), out); err != nil {
		if !out.started {
			return backendError(err)
		}
		s.cfg.Log.Printf("web: %s %s from %s: export cut short after its start: %v", r.Method, r.URL.Path, clientAddr(r), err)
		panic(http.ErrAbortHandler)
	}
	if !out.started {
		out.start()
	}
	return nil
}

// firstWrite calls start before the first byte written through it.
type firstWrite struct {
	w       io.Writer
	start   func()
	started bool
}

func (f *firstWrite) Write(p []byte) (int, error) {
	if !f.started {
		f.started = true
		f.start()
	}
	return f.w.Write(p)
}

// Step deadlines (WCAG 2.2.1, "Timing Adjustable"): an operator extends
// the open step's deadline from the page, or retries a step whose
// deadline passed, or resumes a ceremony no process runs.

// maxExtendMinutes is the most one extension from the console adds.
const maxExtendMinutes = 120

func (s *Server) apiExtend(w http.ResponseWriter, r *http.Request, who Actor) *apiError {
	var req struct {
		Step    string `json:"step"`
		Minutes int    `json:"minutes"`
	}
	if e := decode(r, &req); e != nil {
		return e
	}
	if req.Minutes < 1 || req.Minutes > maxExtendMinutes {
		return &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf("minutes %d: give 1 to %d (extend again for more)", req.Minutes, maxExtendMinutes)}
	}
	if req.Step == "" {
		return &apiError{http.StatusBadRequest, "bad_request", "give the step to extend (open_step of GET /api/v1/ceremonies/{id}): an extension names the step it was asked for"}
	}
	at, err := s.cfg.Backend.Extend(r.Context(), who, r.PathValue("id"), req.Step, time.Duration(req.Minutes)*time.Minute)
	if err != nil {
		return backendError(err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"step": req.Step, "deadline": at})
	return nil
}

func (s *Server) apiRetry(w http.ResponseWriter, r *http.Request, who Actor) *apiError {
	if err := s.cfg.Backend.Retry(r.Context(), who, r.PathValue("id")); err != nil {
		return backendError(err)
	}
	writeJSON(w, http.StatusOK, map[string]string{})
	return nil
}

func (s *Server) apiResume(w http.ResponseWriter, r *http.Request, who Actor) *apiError {
	if err := s.cfg.Backend.Resume(r.Context(), who, r.PathValue("id")); err != nil {
		return backendError(err)
	}
	writeJSON(w, http.StatusOK, map[string]string{})
	return nil
}
