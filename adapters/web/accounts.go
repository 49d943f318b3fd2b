package web

import (
	"fmt"
	"net/http"

	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// Account administration (ARCHITECTURE.md, "Console"): admins list, add,
// disable, enable, re-role and reset the password of accounts through the
// API; each change is the account.changed event the CLI records, with the
// acting admin as its by. A password travels in one request body, typed
// twice, and is never logged, echoed or stored but as its hash.

// AccountInfo is one account as the admin page lists it.
type AccountInfo struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Active  bool   `json:"active"`
	Changed string `json:"changed"`
}

// The account changes the API takes.
const (
	ChangeCreate   = "created"
	ChangeRole     = "role_changed"
	ChangeDisable  = "disabled"
	ChangeEnable   = "enabled"
	ChangePassword = "password_changed"
)

func (s *Server) apiAccounts(w http.ResponseWriter, _ *http.Request, _ Actor) *apiError {
	writeJSON(w, http.StatusOK, s.cfg.Backend.Accounts())
	return nil
}

// passwordPair reads a password typed twice; the caller wipes it.
func passwordPair(pw, again string) ([]byte, *apiError) {
	if pw == "" {
		return nil, &apiError{http.StatusBadRequest, "bad_request", "give the password, twice (password and password_again)"}
	}
	if pw != again {
		return nil, &apiError{http.StatusBadRequest, "password_mismatch", "the two passwords differ: type the same password twice"}
	}
	return []byte(pw), nil
}

func (s *Server) apiAccountAdd(w http.ResponseWriter, r *http.Request, who Actor) *apiError {
	var req struct {
		Name          string `json:"name"`
		Role          string `json:"role"`
		Password      string `json:"password"`
		PasswordAgain string `json:"password_again"`
	}
	if e := decode(r, &req); e != nil {
		return e
	}
	pw, e := passwordPair(req.Password, req.PasswordAgain)
	req.Password, req.PasswordAgain = "", ""
	if e != nil {
		return e
	}
	defer ceremonies.Wipe(pw)
	if err := s.cfg.Backend.ChangeAccount(r.Context(), who, ChangeCreate, req.Name, req.Role, pw); err != nil {
		return backendError(err)
	}
	writeJSON(w, http.StatusCreated, map[string]string{"name": req.Name})
	return nil
}

func (s *Server) apiAccountChange(w http.ResponseWriter, r *http.Request, who Actor) *apiError {
	var req struct {
		Change string `json:"change"`
		Role   string `json:"role"`
	}
	if e := decode(r, &req); e != nil {
		return e
	}
	name := r.PathValue("name")
	switch req.Change {
	case ChangeRole, ChangeDisable, ChangeEnable:
	default:
		return &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf("change %q: give %s, %s or %s (a password goes to POST /api/v1/accounts/{name}/password)", req.Change, ChangeDisable, ChangeEnable, ChangeRole)}
	}
	if name == who.Name && req.Change != ChangeEnable {
		return &apiError{http.StatusConflict, "own_account", "an admin does not disable or re-role their own account here: ask another admin, or use 'ceremony account' on the station"}
	}
	if err := s.cfg.Backend.ChangeAccount(r.Context(), who, req.Change, name, req.Role, nil); err != nil {
		return backendError(err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"name": name, "change": req.Change})
	return nil
}

func (s *Server) apiAccountPassword(w http.ResponseWriter, r *http.Request, who Actor) *apiError {
	var req struct {
		Password      string `json:"password"`
		PasswordAgain string `json:"password_again"`
	}
	if e := decode(r, &req); e != nil {
		return e
	}
	pw, e := passwordPair(req.Password, req.PasswordAgain)
	req.Password, req.PasswordAgain = "", ""
	if e != nil {
		return e
	}
	defer ceremonies.Wipe(pw)
	if err := s.cfg.Backend.ChangeAccount(r.Context(), who, ChangePassword, r.PathValue("name"), "", pw); err != nil {
		return backendError(err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"name": r.PathValue("name"), "change": ChangePassword})
	return nil
}
