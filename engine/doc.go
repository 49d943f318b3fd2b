// Package engine runs ceremonies: it turns commands (a payload a ceremony
// wants to record) into events, checks each against the ceremony's finite
// state machine, appends it with optimistic concurrency, and folds it into
// the ceremony's state (ARCHITECTURE.md, "Engine rules").
//
// Rules a caller must know:
//   - State is never stored: it is the fold of the ceremony's events. Load
//     and Open rebuild it; an event the machine does not allow, or that does
//     not decode, fails the rebuild (never skipped).
//   - Record appends first and applies after: a side effect (I/O a runner does)
//     runs only after the event that asks for it is recorded, and its outcome
//     is recorded as another event.
//   - The looplab/fsm machine only checks and tracks transitions; it has no
//     callbacks, so nothing in it does I/O.
//   - One Instance is safe for concurrent use; Record calls are serialised.
//     Many instances run in parallel.
//   - Step deadlines are events (step.deadline_set); the engine re-arms them
//     after a restart and records step.timed_out when one passes (at once,
//     for one that passed while no engine ran). Close stops the timers.
//   - Time comes from Config.Clock alone: event times (stamped in UTC) and
//     step deadline timers. The default is the wall clock (SystemClock);
//     tests pass a clockwork fake clock and advance it past a deadline.
//   - The engine knows events, definitions and instances only; the read
//     models of a domain (Projection) and its rules live with the kinds.
//   - An event the current phase neither moves on (Transition) nor declares
//     (Definition.Data, Annotations) is refused with ErrUndeclared.
//   - Leases (one named resource per ceremony) live in this process only.
package engine
