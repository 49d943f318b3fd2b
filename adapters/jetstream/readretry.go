package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// readBudget bounds how long a read (Load, ReadCeremony, Replay, the start
// of Follow, and Follow after it lost its reader) keeps trying while no
// stream leader answers: an election after a node was lost, or a cluster
// without quorum (README.md, "Running on a NATS cluster"). Reads change
// nothing, so the budget covers a raft election after a crash (4-9 s in
// nats-server), where an append's (appendBudget) may not.
const readBudget = 15 * time.Second

// stopRead marks an error that is not retried: the caller's callback's,
// or a stored event that does not decode.
type stopRead struct{ err error }

func (e stopRead) Error() string { return e.err.Error() }
func (e stopRead) Unwrap() error { return e.err }

// readAttempt is one try of a read. ctx is the caller's; actx is the same
// bounded by attemptTimeout, for the calls that ask the stream leader
// (stream info, last message, creating a reader) and would otherwise wait
// nats.go's default of 5 s each.
type readAttempt func(ctx, actx context.Context) error

// retryRead runs attempt until it succeeds, fails for a reason other than
// a missing stream leader (lostAck), the caller's context is done, or
// readBudget has passed; then it says the cluster has no quorum. An
// attempt resumes where the last one stopped (its caller keeps the next
// sequence), so no event is delivered twice.
func (s *Store) retryRead(ctx context.Context, attempt readAttempt) error {
	deadline := time.Now().Add(s.readLimit())
	for {
		actx, cancel := context.WithDeadline(ctx, minTime(deadline, time.Now().Add(attemptTimeout)))
		err := attempt(ctx, actx)
		cancel()
		var stop stopRead
		switch {
		case err == nil:
			return nil
		case errors.As(err, &stop):
			return stop.err
		case ctx.Err() != nil || !lostAck(err):
			return err
		case time.Until(deadline) < retryPause:
			return fmt.Errorf("%w: %s", err, s.noLeaderReadText())
		}
		if s.readRetried != nil {
			s.readRetried(err)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(retryPause):
		}
	}
}

// readLimit is readBudget, or a test's.
func (s *Store) readLimit() time.Duration {
	if s.readBudget > 0 {
		return s.readBudget
	}
	return readBudget
}

// noLeaderReadText says why a read gave up.
func (s *Store) noLeaderReadText() string {
	if s.replicas > 1 {
		return fmt.Sprintf("the cluster has no quorum for stream %s: no stream leader answered within %s (more than half of its %d replicas must be up); nothing was changed: try again when the cluster is back",
			s.name, s.readLimit(), s.replicas)
	}
	return fmt.Sprintf("no server answered for stream %s within %s (is it running and reachable?)", s.name, s.readLimit())
}
