package backupkey

import (
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Ceremony kinds.
const (
	KindGenerate = "backup-key-generate"
	KindLoad     = "backup-key-load"
)

// Phases.
const (
	PhaseCreated       = "created"
	PhaseCreatedPaused = "created_paused"
	PhaseWriting       = "writing"
	PhaseWritingPaused = "writing_paused"
	PhaseReading       = "reading"
	PhaseReadingPaused = "reading_paused"
	PhaseCompleted     = "completed"
	PhaseAborted       = "aborted"
	PhaseFailed        = "failed"
	PhaseVoid          = "void"
)

var (
	evAborted = events.CeremonyAborted{}.EventType()
	evFailed  = events.CeremonyFailed{}.EventType()
)

// GenerateDefinition is the Backup Key generate ceremony: "Write New Key",
// one share per card, then "Read New Key" and load into the HSM.
func GenerateDefinition() *engine.Definition {
	live := []string{PhaseCreated, PhaseCreatedPaused, PhaseWriting, PhaseWritingPaused, PhaseReading, PhaseReadingPaused}
	ts := []engine.Transition{
		{Event: events.WriteConfirmed{}.EventType(), From: []string{PhaseCreated}, To: PhaseWriting},
		{Event: events.ReadConfirmed{}.EventType(), From: []string{PhaseWriting}, To: PhaseReading},
		{Event: events.HSMKeyLoaded{}.EventType(), From: []string{PhaseReading}, To: PhaseCompleted},
		{Event: events.KeySetVoided{}.EventType(), From: []string{PhaseWriting, PhaseWritingPaused}, To: PhaseVoid},
		{Event: evAborted, From: live, To: PhaseAborted},
		{Event: evFailed, From: live, To: PhaseFailed},
	}
	ts = append(ts, engine.Pausable(PhaseCreated, PhaseWriting, PhaseReading)...)
	return &engine.Definition{
		Kind:        KindGenerate,
		First:       events.GenerateStarted{}.EventType(),
		Initial:     PhaseCreated,
		Terminal:    []string{PhaseCompleted, PhaseAborted, PhaseFailed, PhaseVoid},
		Transitions: ts,
		NewState:    func() engine.State { return newState() },
	}
}

// LoadDefinition is the Backup Key load ceremony: read any k cards, in any
// order, rebuild, check the KCV, load into the HSM.
func LoadDefinition() *engine.Definition {
	live := []string{PhaseCreated, PhaseCreatedPaused, PhaseReading, PhaseReadingPaused}
	ts := []engine.Transition{
		{Event: events.ReadConfirmed{}.EventType(), From: []string{PhaseCreated}, To: PhaseReading},
		{Event: events.HSMKeyLoaded{}.EventType(), From: []string{PhaseReading}, To: PhaseCompleted},
		{Event: evAborted, From: live, To: PhaseAborted},
		{Event: evFailed, From: live, To: PhaseFailed},
	}
	ts = append(ts, engine.Pausable(PhaseCreated, PhaseReading)...)
	return &engine.Definition{
		Kind:        KindLoad,
		First:       events.LoadStarted{}.EventType(),
		Initial:     PhaseCreated,
		Terminal:    []string{PhaseCompleted, PhaseAborted, PhaseFailed},
		Transitions: ts,
		NewState:    func() engine.State { return newState() },
	}
}

// Definitions returns both Backup Key ceremony definitions.
func Definitions() []*engine.Definition {
	return []*engine.Definition{GenerateDefinition(), LoadDefinition()}
}
