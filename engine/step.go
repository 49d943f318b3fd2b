package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/ceremony-hsm/ceremony/events"
)

// A step is a wait for a person (an operator's action) with a
// persisted deadline. When it passes, the engine records step.timed_out,
// which the definitions map to a paused phase: the operator retries or
// aborts. Nothing is lost (ARCHITECTURE.md, "Engine rules": timeouts are
// events).

type openStep struct {
	step    string
	at      time.Time
	timer   Timer
	cancels []context.CancelCauseFunc
}

// trackStepLocked follows the deadline events during a fold.
func (i *Instance) trackStepLocked(p events.Payload) {
	switch ev := p.(type) {
	case *events.StepDeadlineSet:
		i.disarmLocked()
		i.open = openStep{step: ev.Step, at: ev.Deadline}
	case *events.StepExtended:
		// The step goes on: only its timer moves (recordLocked, reload and
		// rearm arm it again at the new deadline); its contexts stay.
		if i.open.step == ev.Step {
			if i.open.timer != nil {
				i.open.timer.Stop()
				i.open.timer = nil
			}
			i.open.at = ev.Deadline
		}
	case *events.StepCompleted:
		i.disarmLocked()
		i.open = openStep{}
	case *events.StepTimedOut:
		i.disarmLocked()
		i.open = openStep{}
		i.paused = ev.Step
	case *events.StepRetried:
		i.paused = ""
	}
}

// armLocked starts the timer of the open step if it is not running.
func (i *Instance) armLocked() {
	if i.open.step == "" || i.open.timer != nil || i.eng.passive {
		return
	}
	step, at := i.open.step, i.open.at
	wait := at.Sub(i.eng.clock.Now())
	i.open.timer = i.eng.clock.AfterFunc(wait, func() { i.fire(step, at) })
}

// disarmLocked stops the timer and cancels the step's contexts.
func (i *Instance) disarmLocked() {
	if i.open.timer != nil {
		i.open.timer.Stop()
		i.open.timer = nil
	}
	for _, c := range i.open.cancels {
		c(context.Canceled)
	}
	i.open.cancels = nil
}

// rearm is called after Open: deadlines survive restarts.
func (i *Instance) rearm() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.armLocked()
}

// fire records the timeout if the step is still the open one.
func (i *Instance) fire(step string, at time.Time) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.open.step != step || !i.open.at.Equal(at) || i.eng.isClosed() {
		// Another step is open, or the engine was closed while this timer
		// waited for the lock: the next Open re-arms the deadline.
		return
	}
	cancels := i.open.cancels
	i.open.cancels = nil
	i.open.timer = nil
	if err := i.recordLocked(context.Background(), events.SourceEngine, &events.StepTimedOut{Step: step, Deadline: at}); err != nil {
		i.timerErr = err
	}
	for _, c := range cancels {
		c(ErrStepTimedOut)
	}
}

// BeginStep opens (or, after a restart, re-joins) the step and returns a
// context that is cancelled with cause ErrStepTimedOut when its deadline
// passes. A different open step is closed first.
func (i *Instance) BeginStep(ctx context.Context, step string, timeout time.Duration) (context.Context, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.open.step != "" && i.open.step != step {
		if err := i.recordLocked(ctx, events.SourceEngine, &events.StepCompleted{Step: i.open.step}); err != nil {
			return nil, err
		}
	}
	if i.open.step != step {
		at := i.eng.clock.Now().Add(timeout).UTC()
		if err := i.recordLocked(ctx, events.SourceEngine, &events.StepDeadlineSet{Step: step, Deadline: at}); err != nil {
			return nil, err
		}
	}
	sctx, cancel := context.WithCancelCause(ctx)
	i.open.cancels = append(i.open.cancels, cancel)
	i.armLocked()
	return sctx, nil
}

// EndStep records that the open step is done. It returns ErrStepTimedOut
// if the deadline passed first (the timeout is already recorded), or a
// *TransitionError wrapping ErrEnded if the ceremony ended meanwhile (an
// abort another process stored, applied by Follow).
func (i *Instance) EndStep(ctx context.Context, step string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.open.step != step {
		if phase := i.machine.Current(); i.def.IsTerminal(phase) {
			return &TransitionError{CeremonyID: i.id, Phase: phase, Event: (&events.StepCompleted{}).EventType(), Err: ErrEnded}
		}
		return ErrStepTimedOut
	}
	return i.recordLocked(ctx, events.SourceEngine, &events.StepCompleted{Step: step})
}

// MaxExtension is the most one step.extended may add to a deadline.
const MaxExtension = 24 * time.Hour

// ExtendStep moves the open step's deadline by d later and records who
// asked (step.extended; WCAG 2.2.1, "Timing Adjustable"). The step must be
// the open one (a timer that fires meanwhile sees the new deadline and
// records nothing); d is whole seconds, positive and at most
// MaxExtension.
func (i *Instance) ExtendStep(ctx context.Context, step string, d time.Duration, by string) (time.Time, error) {
	if d <= 0 || d > MaxExtension || d%time.Second != 0 {
		return time.Time{}, fmt.Errorf("engine: ceremony %s: extend step %q by %s: give whole seconds, more than none and at most %s", i.id, step, d, MaxExtension)
	}
	if by == "" {
		return time.Time{}, fmt.Errorf("engine: ceremony %s: extend step %q: name who extends it", i.id, step)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.open.step == "" || i.open.step != step {
		return time.Time{}, fmt.Errorf("engine: ceremony %s: extend step %q: %w", i.id, step, ErrNoOpenStep)
	}
	at := i.open.at.Add(d).UTC()
	if err := i.recordLocked(ctx, events.SourceOperator, &events.StepExtended{Step: step, Deadline: at, Seconds: int64(d / time.Second), By: by}); err != nil {
		return time.Time{}, err
	}
	return at, nil
}

// PausedStep returns the step whose deadline passed, until it is retried.
func (i *Instance) PausedStep() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.paused
}

// OpenStep returns the step whose deadline runs, if any.
func (i *Instance) OpenStep() (string, time.Time) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.open.step, i.open.at
}

// TimerError returns the error of the last timeout the engine failed to
// record, if any.
func (i *Instance) TimerError() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.timerErr
}
