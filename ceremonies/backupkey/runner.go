package backupkey

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/ceremonies/secret"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Runner drives one Backup Key ceremony on a station. It holds the
// ceremony's secrets (the generated key set, the shares read) in memory
// only; a new Runner on a resumed ceremony starts without them and says
// what must be redone. Not safe for concurrent use.
type Runner struct {
	ceremonies.Env
	Label string // HSM label for the key; default "backup-key-<set>"

	inst   *engine.Instance
	drv    *ceremonies.Driver
	split  *Split                 // generate: the key set being written
	shares map[int]*secret.Buffer // reading: accepted shares by index
	key    *secret.Buffer         // reading: the rebuilt key until loaded
}

// Run drives inst until it ends or an error that needs a person (hardware
// fault, store down). Abort, timeouts, refusals and wrong PINs are events,
// not errors.
func (r *Runner) Run(ctx context.Context, inst *engine.Instance) (err error) {
	if err := engine.Read(inst, func(*State) {}); err != nil {
		return err
	}
	r.inst = inst
	r.drv = &ceremonies.Driver{Inst: inst, Station: r.Station, Operator: ceremonies.OperatorOf(r.Env, r.state().Operator), Say: r.Say}
	r.shares = map[int]*secret.Buffer{}
	defer r.wipe()
	leases := r.Engine.Leases()
	defer leases.ReleaseAll(inst.ID())
	if err := leases.Acquire("reader:"+r.Station.Reader.Name(), inst.ID()); err != nil {
		return err
	}
	if err := leases.Acquire("hsm:"+r.Station.HSM.Name(), inst.ID()); err != nil {
		return err
	}
	if err := r.reconcile(ctx); err != nil {
		return err
	}
	if err := r.drv.Loop(ctx, ceremonies.Steps{
		PhaseCreated: r.confirmStart,
		PhaseWriting: r.writeNext,
		PhaseReading: r.readNext,
	}); err != nil {
		return err
	}
	if r.inst.Phase() == PhaseAborted {
		if s := AbortedNote(r.Inventory, r.state().KeySetID); s != "" {
			r.drv.Tell(s)
		}
	}
	return nil
}

// AbortedNote says what an aborted generate leaves on cards: its key set
// is void and the cards written may be reused. Empty when no share was
// written or the set is not void.
func AbortedNote(inv *inventory.Inventory, keySetID string) string {
	ks, ok := inv.KeySet(keySetID)
	if !ok || ks.Status != inventory.KeySetVoid {
		return ""
	}
	var cards []string
	for _, hs := range ks.Holders {
		cards = append(cards, hs...)
	}
	if len(cards) == 0 {
		return ""
	}
	sort.Strings(cards)
	return fmt.Sprintf("Key set %s is void: the ceremony was aborted and its key is gone. These cards may be reused; the next generate overwrites them without confirmation: %s.", ks.ID, strings.Join(cards, ", "))
}

func (r *Runner) confirmStart(ctx context.Context) error {
	line1 := "Read Key"
	if r.inst.Kind() == KindGenerate {
		line1 = "Write New Key"
	}
	if err := ceremonies.Confirm(ctx, r.inst, r.Station, "confirm start", line1, "press OK/Cancel"); err != nil {
		return err
	}
	ev := events.Payload(&events.ReadConfirmed{By: r.drv.Actor()})
	if r.inst.Kind() == KindGenerate {
		ev = &events.WriteConfirmed{By: r.drv.Actor()}
	}
	return r.inst.Record(ctx, events.SourceOperator, ev)
}

// reconcile compares what the events say was in memory with what this
// Runner holds, and records what was lost (ARCHITECTURE.md, "Engine rules": secrets are
// lost on a crash by design; recovery plans say what this means).
func (r *Runner) reconcile(ctx context.Context) error {
	if r.inst.Ended() {
		return nil
	}
	st := r.state()
	var redo []string
	switch {
	case st.Pending != nil:
		// Checked on the card before anything else (writeNext).
		redo = append(redo, fmt.Sprintf("card %s: check whether share %d was written before the stop: insert it when asked", st.Pending.Serial, st.Pending.Index))
	case r.lostKey(st):
		if r.Resumed && len(st.Written) < st.Threshold {
			// The set is voided next, which ends the ceremony: record
			// who resumed it first.
			if err := r.drv.Resumed(ctx, []string{"nothing can be: the key is gone, the set is void; start a new generate"}); err != nil {
				return err
			}
		}
		more, err := r.decideLostKey(ctx, st)
		if err != nil || r.inst.Ended() {
			return err // a void set ends the ceremony: nothing to resume
		}
		redo = append(redo, more...)
	}
	if len(st.Accepted) > 0 && len(r.shares) == 0 {
		if err := r.inst.Record(ctx, events.SourceEngine, &events.SharesDiscarded{Reason: "the process stopped: the shares read before were held in memory only"}); err != nil {
			return err
		}
		redo = append(redo, fmt.Sprintf("read %d cards again", st.Threshold))
	}
	if !r.Resumed {
		return nil
	}
	return r.drv.Resumed(ctx, redo)
}

// lostKey reports a generate whose key was lost with a process before
// every share was written.
func (r *Runner) lostKey(st State) bool {
	return st.Generated && !st.KeyLost && r.split == nil && r.inst.Kind() == KindGenerate && !phaseIs(r.inst.Phase(), PhaseReading)
}

// decideLostKey records what the lost key means (ARCHITECTURE.md, "Ceremony semantics"): fewer
// than k shares written, the set is void; k or more, the set is finished
// from the written cards.
func (r *Runner) decideLostKey(ctx context.Context, st State) ([]string, error) {
	written := sortedSerials(st.Written)
	if len(st.Written) < st.Threshold {
		reason := fmt.Sprintf("the process stopped with %d of %d shares written (fewer than the %d needed): the key existed only in memory and is gone", len(st.Written), st.Shares, st.Threshold)
		reuse := "No card was written."
		if len(written) > 0 {
			reuse = "These cards may be overwritten without confirmation: " + strings.Join(written, ", ") + "."
		}
		r.drv.Tell("Key set void: " + reason + ". Start a new generate. " + reuse)
		return nil, r.inst.Record(ctx, events.SourceEngine, &events.KeySetVoided{KeySetID: st.KeySetID, Written: written, Reason: reason})
	}
	consequence := fmt.Sprintf("%d of %d shares were written, enough to rebuild the key (%d needed); shares %s are gone for good (never written, the key existed only in memory), so the set has %d cards, not %d",
		len(st.Written), st.Shares, st.Threshold, joinInts(st.Unwritten()), len(st.Written), st.Shares)
	if err := r.inst.Record(ctx, events.SourceEngine, &events.SecretsLost{What: "the generated key and its unwritten shares", Consequence: consequence}); err != nil {
		return nil, err
	}
	r.drv.Tell("WARNING: " + consequence + ".")
	return []string{"read " + fmt.Sprint(st.Threshold) + " written cards back to load the key"}, nil
}

// joinInts renders 4, 5 as "4, 5".
func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

func phaseIs(phase, base string) bool { return phase == base || phase == base+"_paused" }

func sortedSerials(m map[int]string) []string {
	out := make([]string, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// state copies the ceremony's state (Run checked its type first).
func (r *Runner) state() State {
	st, _ := snapshot(r.inst)
	return st
}

func (r *Runner) wipe() {
	if r.split != nil {
		r.split.Wipe()
		r.split = nil
	}
	for i, s := range r.shares {
		s.Release()
		delete(r.shares, i)
	}
	r.key.Release()
	r.key = nil
}
