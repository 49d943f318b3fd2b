package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/ceremony-hsm/ceremony/events"
)

// ErrCannotFollow is returned by Follow when the store cannot deliver new
// events (it is not an events.Follower).
var ErrCannotFollow = errors.New("the event store cannot deliver new events")

// Each stored event reaches the projections once per engine, whichever way
// it comes: the replay of Open, this engine's own Record, a reload after a
// conflict, or Follow. cursor is the last sequence Open or Follow
// delivered; ahead holds the sequences projected past it (this engine's
// appends and reloads), which Follow then skips.

// projectOnce feeds one stored event to every projection unless it was fed.
func (e *Engine) projectOnce(seq uint64, env events.Envelope, p events.Payload) {
	e.pmu.Lock()
	defer e.pmu.Unlock()
	if seq <= e.cursor || e.ahead[seq] {
		return
	}
	e.ahead[seq] = true
	e.project(seq, env, p)
}

// followed feeds an event Follow delivered, unless this engine fed it.
func (e *Engine) followed(seq uint64, env events.Envelope, p events.Payload) {
	e.pmu.Lock()
	defer e.pmu.Unlock()
	if seq <= e.cursor {
		return
	}
	e.cursor = seq
	if e.ahead[seq] {
		delete(e.ahead, seq)
		return
	}
	e.project(seq, env, p)
}

// Follow applies the events other writers (processes, nodes) store from
// now on, in stream order, until ctx is done: to the loaded ceremonies
// (a new ceremony is loaded when its first event arrives; one never loaded
// is left alone) and to the projections. It returns nil when ctx ends, or
// the error that stopped it. Call it once, after Open.
func (e *Engine) Follow(ctx context.Context) error {
	fl, ok := e.store.(events.Follower)
	if !ok {
		return fmt.Errorf("engine: follow: %w", ErrCannotFollow)
	}
	e.pmu.Lock()
	if e.following {
		e.pmu.Unlock()
		return fmt.Errorf("engine: follow: already following")
	}
	e.following = true
	from := e.cursor + 1
	e.pmu.Unlock()
	err := fl.Follow(ctx, from, func(r events.Record) error {
		p, err := e.reg.DecodePayload(r.Envelope)
		if err != nil {
			return fmt.Errorf("stream sequence %d: %w", r.Seq, err)
		}
		if err := e.applyFollowed(ctx, r, p); err != nil {
			return err
		}
		e.followed(r.Seq, r.Envelope, p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("engine: follow: %w", err)
	}
	return nil
}

// applyFollowed applies r to its ceremony's instance if it is new to it.
// The instance lock is taken before, never while, the projection lock.
func (e *Engine) applyFollowed(ctx context.Context, r events.Record, p events.Payload) error {
	e.mu.Lock()
	inst, ok := e.instances[r.CeremonyID]
	closed := e.closed
	known := e.knownOnly(r.CeremonyID)
	e.mu.Unlock()
	if closed {
		return nil
	}
	if !ok && known {
		// Known from a baseline (OpenFrom): load it from its subject, up
		// to this event.
		n, err := e.replayUntil(ctx, r.CeremonyID, r.Seq)
		if err != nil {
			return err
		}
		e.mu.Lock()
		_, raced := e.instances[r.CeremonyID]
		if !raced {
			e.instances[r.CeremonyID] = n
		}
		e.mu.Unlock()
		if !raced {
			n.rearm()
		}
		return nil
	}
	if !ok {
		if r.Position != 1 {
			return nil // a ceremony this engine did not load
		}
		n, err := e.foldRecord(nil, r, p)
		if err != nil {
			return err
		}
		e.mu.Lock()
		if _, raced := e.instances[r.CeremonyID]; raced {
			inst = e.instances[r.CeremonyID] // Start got there first
		} else {
			e.instances[r.CeremonyID] = n
			e.mu.Unlock()
			n.rearm()
			return nil
		}
		e.mu.Unlock()
	}
	inst.mu.Lock()
	defer inst.mu.Unlock()
	switch {
	case r.Seq <= inst.lastSeq:
		return nil // recorded or reloaded here
	case r.Position == inst.position+1 && r.PrevHash == inst.lastHash:
		if err := inst.applyLocked(ctx, r.Envelope, p, r.Seq); err != nil {
			return fmt.Errorf("ceremony %s position %d: %w: %v", r.CeremonyID, r.Position, ErrCorruptHistory, err)
		}
		inst.armLocked()
		return nil
	default:
		return inst.reloadLocked(ctx)
	}
}

// OpenCeremony loads one ceremony from its own events only, for a command
// about that ceremony: nothing else is replayed and the projections are
// not fed. It returns ErrNotFound (wrapped) for an unknown id.
func (e *Engine) OpenCeremony(ctx context.Context, id string) (*Instance, error) {
	inst, err := e.Replay(ctx, id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if prev, ok := e.instances[id]; ok {
		e.mu.Unlock()
		return prev, nil
	}
	e.instances[id] = inst
	e.mu.Unlock()
	inst.rearm()
	return inst, nil
}
