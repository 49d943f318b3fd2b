// Package web is the operator and auditor console of 'ceremony serve':
// HTTPS, accounts with roles, sessions with CSRF protection, the JSON API
// under /api/v1/ (documented in openapi.json), server-sent events fed from
// the event stream, and server-rendered pages that call that API.
//
// The package knows no engine and no kind (ARCHITECTURE.md, "Layers and
// dependency rules"): cmd/ceremony gives it a Backend.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"
)

// Actor is an authenticated account: every action the console records
// carries it.
type Actor struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// Ceremony is one line of the ceremony list.
type Ceremony struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Phase     string    `json:"phase"`
	Started   time.Time `json:"started"`
	Updated   time.Time `json:"updated"`
	Events    int       `json:"events"`
	OpenStep  string    `json:"open_step,omitempty"`
	Deadline  time.Time `json:"deadline,omitzero"`
	Ended     bool      `json:"ended"`
	Live      bool      `json:"live"`      // run by this console now
	Rehearsal bool      `json:"rehearsal"` // on emulated cards and an in-memory HSM
}

// Row is one fact of a ceremony's summary.
type Row struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Detail is one ceremony with its facts and, when the console runs it,
// its PIN pad and emulated station.
type Detail struct {
	Ceremony
	// PausedStep is the step whose deadline passed, until it is retried.
	PausedStep string `json:"paused_step,omitempty"`
	// Resumable: no process runs it, and this console's station can.
	Resumable bool `json:"resumable"`
	// ServerTime is the station's clock when the detail was read: a page
	// counts down to Deadline from it, whatever the browser's clock says.
	ServerTime time.Time `json:"server_time"`
	Facts      []Row     `json:"facts"`
	Pad        *PadView  `json:"pad,omitempty"`
	Station    *Bench    `json:"station,omitempty"`
}

// Bench is an emulated station's reader: which card is in it and which
// cards may go in.
type Bench struct {
	InReader string   `json:"in_reader"`
	Cards    []string `json:"cards"`
}

// Event is one stored event as the API shows it.
type Event struct {
	Seq        uint64          `json:"seq"`
	CeremonyID string          `json:"ceremony_id"`
	Position   uint64          `json:"position"`
	Type       string          `json:"type"`
	Source     string          `json:"source"`
	Time       time.Time       `json:"time"`
	Payload    json.RawMessage `json:"payload"`
	Hash       string          `json:"hash"`
}

// KindInfo is a kind the console can start.
type KindInfo struct {
	Name    string  `json:"name"`
	Command string  `json:"command"`
	Short   string  `json:"short"`
	Params  []Param `json:"params"`
}

// Param is one start parameter.
type Param struct {
	Name    string `json:"name"`
	Default string `json:"default"`
	Usage   string `json:"usage"`
	Int     bool   `json:"int"`
}

// Finding is one open health finding.
type Finding struct {
	Severity string `json:"severity"`
	Subject  string `json:"subject"`
	What     string `json:"what"`
	Recovery string `json:"recovery"`
}

// StationInfo is what the console's ceremonies run on, said on its
// pages: the emulated rehearsal station, or a PC/SC reader and an HSM.
type StationInfo struct {
	// Rehearsal: an emulated reader with emulated cards (inserted from
	// the page) and an in-memory HSM; no real key.
	Rehearsal bool
	Reader    string // the PC/SC reader's name (real station)
	HSM       string // the HSM, as the ceremony.station event names it
}

// Station is a live ceremony's emulated reader (rehearsals only).
type Station interface {
	Bench() Bench
	Insert(card string) error
	Pull() error
}

// Backend is what the console acts on.
type Backend interface {
	Kinds() []KindInfo
	Ceremonies() []Ceremony
	Ceremony(id string) (Detail, error)
	Events(ctx context.Context, id string) ([]Event, error)
	// Watch calls fn with id's events after stream sequence after, then
	// with each new one, until ctx ends or fn fails.
	Watch(ctx context.Context, id string, after uint64, fn func(Event) error) error
	// Start starts a ceremony run by this console on its station.
	Start(ctx context.Context, who Actor, kind string, params map[string]string) (string, error)
	Abort(ctx context.Context, who Actor, id, reason string) error
	// Extend moves the open step's deadline by d later (step.extended,
	// by who) and returns the new deadline.
	Extend(ctx context.Context, who Actor, id, step string, d time.Duration) (time.Time, error)
	// Retry retries the paused step of a ceremony this console runs (who
	// presses OK on its PIN pad's "Timed out" question).
	Retry(ctx context.Context, who Actor, id string) error
	// Resume runs, on this console's station, a ceremony no process runs
	// (ceremony.resumed, by who).
	Resume(ctx context.Context, who Actor, id string) error
	Witness(ctx context.Context, who Actor, id, statement string) error
	// Approve is a second operator's approval of a ceremony under dual
	// control that waits for it (ceremony.approved, by who).
	Approve(ctx context.Context, who Actor, id string) error
	// Live returns the PIN pad and station of a ceremony this console runs.
	Live(id string) (*Pad, Station, bool)
	// Checkpoint returns the newest signed checkpoint of the event stream
	// covering every event (a C2SP tlog-checkpoint note with its
	// co-signatures).
	Checkpoint(ctx context.Context) ([]byte, error)
	// Health lists the open findings, critical first.
	Health() []Finding
	KeySets() []KeySetInfo
	Cards() []CardInfo
	Report(ctx context.Context, id string, w io.Writer) error
	// Export writes a signed export of the whole store as a tar file. It
	// does everything that can fail before its first write to w: the
	// response starts with that write, and a failure after it can only
	// cut the download.
	Export(ctx context.Context, w io.Writer) error
	// Accounts lists the accounts.
	Accounts() []AccountInfo
	// ChangeAccount records one account change (a Change* value) by who,
	// as account.changed; password (created, password_changed) is hashed
	// into the password file, never recorded.
	ChangeAccount(ctx context.Context, who Actor, change, name, role string, password []byte) error
	// Account returns an account's role and status.
	Account(name string) (role string, active, ok bool)
	CheckPassword(name string, password []byte) error
}

// Errors a Backend returns (wrapped) that the API maps to a status.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// UsageError is a bad request the caller can fix.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }
