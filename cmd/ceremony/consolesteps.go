package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/web"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// The console's runs and their step deadlines: a start or a resume
// launches a run on the console's emulated station; an operator extends
// a step's deadline (WCAG 2.2.1), retries a step that timed out, or
// resumes a ceremony no process runs (ARCHITECTURE.md, "Engine rules":
// timeouts are events).

// launch runs k's runner on inst in the background, on its share of the
// console's station, driven from the web PIN pad.
func (c *console) launch(k ceremonies.Kind, inst *engine.Instance, rs *runStation, who web.Actor, resumed bool) {
	id := inst.ID()
	pad := web.NewPad()
	desk := web.NewDesk(pad)
	approvals := web.NewApprovals(pad)
	rs.say = pad.Say
	station := &ceremonies.Station{Pad: pad, Reader: rs.port, HSM: rs.hsm, StepTimeout: c.stepTimeout, Witnesses: desk, Approvals: approvals, Watch: rs.watch}
	// A scripted ceremony's card and witness checks ride on the station.
	if s, err := scriptOf(c.ctx, c.a, id); err == nil {
		station.Script = s
	} else {
		c.log.Printf("console: ceremony %s: its script binding cannot be read (%v): it runs unchecked against a script", id, err)
	}
	rctx, cancel := context.WithCancel(c.ctx)
	r := &liveRun{pad: pad, desk: desk, approvals: approvals, reader: rs.emu, cards: c.cards, cancel: cancel}
	c.mu.Lock()
	c.runs[id] = r
	c.mu.Unlock()
	verb := "started"
	if resumed {
		verb = "resumed"
	}
	c.log.Printf("console: %s %s %s (%s)", who.Name, verb, id, k.Name())
	go func() {
		defer cancel()
		err := engine.HoldRunner(rctx, c.a.eng.Leases(), id, func(rctx context.Context) error {
			runner, err := k.NewRunner(ceremonies.Env{Engine: c.a.eng, Inventory: c.a.views.Inventory, Station: station, Rand: rand.Reader,
				Say: pad.Say, Resumed: resumed, Operator: who.Name})
			if err != nil {
				return err
			}
			return runner.Run(rctx, inst)
		})
		// The run's emulated cards go back on the bench for the next run;
		// a real reader is free for the next.
		if rs.emu != nil && rs.emu.Card() != nil {
			rs.emu.Remove()
		}
		rs.free()
		// A stopped run may be resumed here; its pad stays for the
		// watchers until then.
		c.mu.Lock()
		r.done = true
		c.mu.Unlock()
		if err != nil {
			c.log.Printf("console: ceremony %s stopped in phase %s: %v", id, inst.Phase(), err)
			pad.End("Stopped", inst.Phase())
			return
		}
		pad.End("Ceremony ended", inst.Phase())
	}()
}

// Extend records step.extended for the open step, by who.
func (c *console) Extend(ctx context.Context, who web.Actor, id, step string, d time.Duration) (time.Time, error) {
	inst, err := c.instance(id)
	if err != nil {
		return time.Time{}, err
	}
	at, err := inst.ExtendStep(ctx, step, d, who.Name)
	if errors.Is(err, engine.ErrNoOpenStep) || errors.Is(err, engine.ErrEnded) {
		open, _ := inst.OpenStep()
		return time.Time{}, fmt.Errorf("ceremony %s: step %q is not the one waiting (now: %q, phase %s): reload the page: %w", id, step, open, inst.Phase(), web.ErrConflict)
	}
	if err != nil {
		return time.Time{}, err
	}
	c.log.Printf("console: %s extended step %q of %s by %s", who.Name, step, id, d)
	return at, nil
}

// Retry answers OK, as who, to the "Timed out" question of a paused run.
func (c *console) Retry(_ context.Context, who web.Actor, id string) error {
	inst, err := c.instance(id)
	if err != nil {
		return err
	}
	if inst.PausedStep() == "" || !engine.IsPaused(inst.Phase()) {
		return fmt.Errorf("ceremony %s is in phase %s, not paused by a timeout: nothing to retry: %w", id, inst.Phase(), web.ErrConflict)
	}
	c.mu.Lock()
	r := c.runs[id]
	done := r == nil || r.done
	c.mu.Unlock()
	if done {
		return fmt.Errorf("ceremony %s is not running in this console: resume it first: %w", id, web.ErrConflict)
	}
	if err := r.pad.Press(true, who.Name); err != nil {
		return fmt.Errorf("ceremony %s: the PIN pad does not ask to retry yet (%v): try again when it shows \"Timed out\": %w", id, err, web.ErrConflict)
	}
	return nil
}

// resumable says why this console cannot resume ceremony id, or "".
func (c *console) resumable(ctx context.Context, inst *engine.Instance) string {
	if inst.Ended() {
		return "it has ended"
	}
	c.mu.Lock()
	r := c.runs[inst.ID()]
	c.mu.Unlock()
	if r != nil && !r.done {
		return "this console runs it now"
	}
	if holder, held := c.a.eng.Leases().Holder(engine.RunnerLease(inst.ID())); held {
		return "another process runs it (" + holder + ")"
	}
	recs, err := c.a.store.Load(ctx, inst.ID())
	if err != nil {
		return "its events cannot be read: " + err.Error()
	}
	for _, rec := range recs {
		if rec.Type != (events.StationDescribed{}).EventType() {
			continue
		}
		var st events.StationDescribed
		if json.Unmarshal(rec.Payload, &st) == nil && len(st.Readers) == 1 && st.Readers[0].Name == c.station.readerName() {
			return ""
		}
	}
	return "it ran on another station: resume it there with 'ceremony resume'"
}

// Resume runs a ceremony no process runs on this console's station.
func (c *console) Resume(ctx context.Context, who web.Actor, id string) error {
	inst, err := c.instance(id)
	if err != nil {
		return err
	}
	if why := c.resumable(ctx, inst); why != "" {
		return fmt.Errorf("ceremony %s cannot be resumed in this console: %s: %w", id, why, web.ErrConflict)
	}
	k, err := kinds.Lookup(inst.Kind())
	if err != nil {
		return err
	}
	rs, err := c.station.take(id)
	if err != nil {
		return err
	}
	c.launch(k, inst, rs, who, true)
	return nil
}

// signedOffBy returns the position of name's sign-off of ceremony id, if
// any.
func (c *console) signedOffBy(ctx context.Context, id, name string) (uint64, bool) {
	recs, err := c.a.store.Load(ctx, id)
	if err != nil {
		return 0, false
	}
	for _, rec := range recs {
		if rec.Type != (events.Witnessed{}).EventType() {
			continue
		}
		var w events.Witnessed
		if json.Unmarshal(rec.Payload, &w) == nil && w.Name == name {
			return rec.Position, true
		}
	}
	return 0, false
}
