package engine

import (
	"errors"
	"fmt"
)

// Sentinel errors; the concrete errors below wrap them.
var (
	ErrNotAllowed     = errors.New("not allowed in this phase")
	ErrUndeclared     = errors.New("not a data event this phase declares")
	ErrStateType      = errors.New("the ceremony's state is of another type")
	ErrEnded          = errors.New("the ceremony has ended")
	ErrUnknownKind    = errors.New("unknown ceremony kind")
	ErrNotFound       = errors.New("no such ceremony")
	ErrExists         = errors.New("a ceremony with this id exists")
	ErrLeased         = errors.New("in use by another ceremony")
	ErrLeaseLost      = errors.New("lost the lease")
	ErrStepTimedOut   = errors.New("step timed out")
	ErrNoOpenStep     = errors.New("that step is not the one waiting (it ended, timed out or another one is open)")
	ErrCorruptHistory = errors.New("stored history does not replay")
)

// TransitionError says which event was refused in which phase.
type TransitionError struct {
	CeremonyID string
	Phase      string
	Event      string
	Err        error
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("ceremony %s: %s in phase %q: %v", e.CeremonyID, e.Event, e.Phase, e.Err)
}

func (e *TransitionError) Unwrap() error { return e.Err }
