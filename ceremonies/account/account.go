// Package account records who may act in the console: each account's
// creation and each change of its role, status or password is an event
// (account.changed) in a ceremony of one event (the account-change kind,
// like card-assign), so the audit trail shows who could act when. The
// password itself, and its hash, are never in an event: they live in the
// station's password file (adapters/passwords).
package account

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Kind is the account-change kind: complete the moment it is recorded.
const Kind = "account-change"

// The roles (ARCHITECTURE.md, "Console"): what each may do.
const (
	Admin    = "admin"    // manages accounts, nothing else
	Operator = "operator" // starts, drives, resumes and aborts ceremonies
	Witness  = "witness"  // signs ceremonies off
	Auditor  = "auditor"  // reads, exports, reports; changes nothing
)

// Roles lists the roles.
var Roles = []string{Admin, Operator, Witness, Auditor}

// The changes an account.changed records.
const (
	Created         = "created"
	RoleChanged     = "role_changed"
	Disabled        = "disabled"
	Enabled         = "enabled"
	PasswordChanged = "password_changed"
)

// Changed records an account's creation or one change of it, with the
// account's role and status after the change and who made it. Never a
// password or its hash.
type Changed struct {
	Name   string `json:"name"`
	Change string `json:"change"`
	Role   string `json:"role"`
	Active bool   `json:"active"`
	By     string `json:"by"`
}

func (Changed) EventType() string { return "account.changed" }

// AccountChange is the account-change kind.
func AccountChange() ceremonies.Kind {
	return ceremonies.Kind{
		Definition: &engine.Definition{
			Kind: Kind, First: Changed{}.EventType(), Initial: ceremonies.PhaseCompleted,
			Terminal: []string{ceremonies.PhaseCompleted},
			NewState: func() engine.State { return &State{} },
		},
		Payloads:  []events.PayloadType{events.Declare[Changed]()},
		Completed: ceremonies.PhaseCompleted,
		NewRunner: func(ceremonies.Env) (ceremonies.Runner, error) { return done{}, nil },
		Summary:   ceremonies.SummaryOf(summary),
	}
}

// State is the fold of one change.
type State struct{ Changed }

// Apply folds one event. Pure.
func (s *State) Apply(_ events.Envelope, p events.Payload) {
	if ev, ok := p.(*Changed); ok {
		s.Changed = *ev
	}
}

func summary(s *State) []ceremonies.Row {
	status := "active"
	if !s.Active {
		status = "disabled"
	}
	return []ceremonies.Row{{Name: "account", Value: s.Name}, {Name: "change", Value: s.Change},
		{Name: "role", Value: s.Role}, {Name: "status", Value: status}, {Name: "by", Value: s.By}}
}

type done struct{}

func (done) Run(context.Context, *engine.Instance) error { return nil }

// Account is one account as the events leave it.
type Account struct {
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Active  bool      `json:"active"`
	Changed time.Time `json:"changed"`
}

// Registry is the read model of the accounts, folded from account.changed.
type Registry struct {
	mu sync.Mutex
	m  map[string]Account
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{m: map[string]Account{}} }

// Apply folds an account.changed; other events change nothing.
func (r *Registry) Apply(env events.Envelope, p events.Payload) {
	ev, ok := p.(*Changed)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[ev.Name] = Account{Name: ev.Name, Role: ev.Role, Active: ev.Active, Changed: env.Time}
}

// Get returns the account called name.
func (r *Registry) Get(name string) (Account, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.m[name]
	return a, ok
}

// List returns the accounts by name.
func (r *Registry) List() []Account {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Account, 0, len(r.m))
	for _, a := range r.m {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// New checks a change against the registry and returns its event. role
// is used by Created and RoleChanged only.
func New(r *Registry, change, name, role, by string) (*Changed, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	cur, exists := r.Get(name)
	switch change {
	case Created:
		if exists {
			return nil, ceremonies.Usagef("account %q exists already: 'ceremony account list' shows it", name)
		}
		if err := checkRole(role); err != nil {
			return nil, err
		}
		return &Changed{Name: name, Change: change, Role: role, Active: true, By: by}, nil
	}
	if !exists {
		return nil, ceremonies.Usagef("no account %q: 'ceremony account list' shows the accounts", name)
	}
	ev := &Changed{Name: name, Change: change, Role: cur.Role, Active: cur.Active, By: by}
	switch change {
	case RoleChanged:
		if err := checkRole(role); err != nil {
			return nil, err
		}
		ev.Role = role
	case Disabled:
		if !cur.Active {
			return nil, ceremonies.Usagef("account %q is disabled already", name)
		}
		ev.Active = false
	case Enabled:
		if cur.Active {
			return nil, ceremonies.Usagef("account %q is active already", name)
		}
		ev.Active = true
	case PasswordChanged:
	default:
		return nil, fmt.Errorf("account: unknown change %q", change)
	}
	return ev, nil
}

func checkName(name string) error {
	if name == "" || len(name) > 64 || strings.IndexFunc(name, func(c rune) bool {
		return !(unicode.IsLetter(c) || unicode.IsDigit(c) || c == '-' || c == '_' || c == '.')
	}) >= 0 {
		return ceremonies.Usagef("account name %q: use 1-64 letters, digits, '.', '-' or '_'", name)
	}
	return nil
}

func checkRole(role string) error {
	for _, r := range Roles {
		if r == role {
			return nil
		}
	}
	return ceremonies.Usagef("--role %q: give one of %s", role, strings.Join(Roles, ", "))
}

// Restore replaces the registry's accounts with list (as List returned
// them), for a projection checkpoint.
func (r *Registry) Restore(list []Account) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m = make(map[string]Account, len(list))
	for _, a := range list {
		r.m[a.Name] = a
	}
}
