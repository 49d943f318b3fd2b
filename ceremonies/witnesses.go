package ceremonies

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// WitnessesParam is the start parameter every kind has (WithWitnesses):
// how many witness sign-offs the ceremony takes at the station before it
// completes (ARCHITECTURE.md, "Audit").
var WitnessesParam = Param{Name: "witnesses", Default: "0", Int: true,
	Usage: "witness sign-offs required at the station before the ceremony completes (0 to 9; each gives name, role and optionally their key file)"}

// Witnesses returns the --witnesses count of p; absent is 0.
func Witnesses(p Params) (int, error) {
	v, ok := p[WitnessesParam.Name]
	if !ok || v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 9 {
		return 0, Usagef("--witnesses %s: give 0 to 9", v)
	}
	return n, nil
}

// WithWitnesses makes the witness requirement a parameter of s: the
// parameter is added, checked, and a non-zero count is recorded
// (ceremony.witnesses_required) right after the kind's first event.
// ceremonies/kinds applies it to every kind's Start, once.
func WithWitnesses(s *Start) {
	if s == nil {
		return
	}
	for _, p := range s.Params {
		if p.Name == WitnessesParam.Name {
			panic("ceremonies: a kind declares the generic --witnesses parameter itself")
		}
	}
	s.Params = append(s.Params, WitnessesParam)
	check, begin := s.Check, s.Begin
	s.Check = func(p Params) error {
		if _, err := Witnesses(p); err != nil {
			return err
		}
		if check != nil {
			return check(p)
		}
		return nil
	}
	s.Begin = func(p Params, at StartInfo) ([]events.Payload, error) {
		n, err := Witnesses(p)
		if err != nil {
			return nil, err
		}
		out, err := begin(p, at)
		if err != nil || n == 0 {
			return out, err
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("ceremonies: start: the kind's Begin returned no first event")
		}
		return append([]events.Payload{out[0], &events.WitnessesRequired{Count: n}}, out[1:]...), nil
	}
}

// WitnessAnswer is one witness's sign-off as given at the station. Sign,
// when set, signs the sign-off with the witness's own key (their key
// file); nil: the sign-off is unsigned.
type WitnessAnswer struct {
	Name, Role string
	Sign       func(msg []byte) (publicKey, signature []byte, err error)
}

// WitnessesMissing returns how many sign-offs the ceremony requires
// (ceremony.witnesses_required) and how many it has (ceremony.witnessed).
func WitnessesMissing(inst *engine.Instance) (required, have int) {
	_, last := inst.Tally(events.WitnessesRequired{}.EventType())
	if r, ok := last.(*events.WitnessesRequired); ok {
		required = r.Count
	}
	have, _ = inst.Tally(events.Witnessed{}.EventType())
	return required, have
}

// witnessStatement is what a sign-off taken at the station attests.
const witnessStatement = "I witnessed this ceremony as recorded up to this point, before it completed"

// RequireWitnesses takes, at the station's witness desk, the sign-offs
// the ceremony still needs; nil when none are missing (then the runner
// goes on). Every kind's runner calls it at the start of the step whose
// outcome completes the ceremony, before anything irreversible, so a
// timeout here (ErrPaused) leaves nothing to settle (ARCHITECTURE.md,
// "Audit": a ceremony can require witnesses to complete).
func (d *Driver) RequireWitnesses(ctx context.Context) error {
	required, have := WitnessesMissing(d.Inst)
	if have >= required {
		return nil
	}
	desk := d.Station.Witnesses
	if desk == nil {
		return fmt.Errorf("ceremony %s requires %d witness sign-offs before it completes and this station cannot take them: resume it at a station that can", d.Inst.ID(), required)
	}
	step := "witness sign-off"
	sctx, err := d.Inst.BeginStep(ctx, step, d.Station.Timeout())
	if err != nil {
		return err
	}
	d.Station.Pad.Show("Witness sign-off", fmt.Sprintf("%d of %d", have+1, required))
	for n := have + 1; n <= required; n++ {
		a, err := desk.AskWitness(sctx, n, required)
		if err != nil {
			if errors.Is(context.Cause(sctx), engine.ErrStepTimedOut) {
				return ErrPaused
			}
			return err
		}
		if a.Name == "" || a.Role == "" {
			d.Tell("A sign-off needs the witness's name and role.")
			n--
			continue
		}
		if taken, err := d.scriptedWitness(ctx, a); err != nil {
			return err
		} else if !taken {
			n--
			continue
		}
		w := &events.Witnessed{Name: a.Name, Role: a.Role, Statement: witnessStatement, UpTo: d.Inst.LastHash()}
		if a.Sign != nil {
			pub, sig, err := a.Sign(events.WitnessMessage(d.Inst.ID(), w.UpTo, w.Name, w.Role, w.Statement))
			if err != nil {
				d.Tell(fmt.Sprintf("The sign-off of %s could not be signed (%v): give it again.", a.Name, err))
				n--
				continue
			}
			w.PublicKey, w.Signature = hex.EncodeToString(pub), hex.EncodeToString(sig)
		}
		if err := d.Inst.Record(ctx, events.SourceOperator, w); err != nil {
			return err
		}
		how := "unsigned"
		if w.Signature != "" {
			how = "signed with key " + w.PublicKey[:16] + "…"
		}
		d.Tell(fmt.Sprintf("Signed off by %s (%s), %s.", a.Name, a.Role, how))
	}
	if err := d.Inst.EndStep(ctx, step); err != nil {
		return ErrPaused
	}
	return nil
}

// ScriptNamesWitness checks a sign-off by name in role against the
// witnesses the script s names (nil: no script): ok when s names none,
// or one in that role (with that name, when it gives one); else msg says
// whom it names.
func ScriptNamesWitness(s *Scripted, name, role string) (ok bool, msg string) {
	if s == nil || len(s.Bound.Witnesses) == 0 {
		return true, ""
	}
	var named []string
	for _, w := range s.Bound.Witnesses {
		if strings.EqualFold(w.Role, role) && (w.Name == "" || strings.EqualFold(w.Name, name)) {
			return true, ""
		}
		if w.Name != "" {
			named = append(named, w.Name+" ("+w.Role+")")
		} else {
			named = append(named, "any "+w.Role)
		}
	}
	return false, fmt.Sprintf("%s (%s) is not a witness the ceremony's script (%s) names: it names %s", name, role, s.Bound.File, strings.Join(named, ", "))
}

// scriptedWitness checks a sign-off against the witnesses the ceremony's
// script names (events.ScriptBound): a witness it names (by name when the
// script gives one, and by role) signs off; anyone else is turned away
// (taken false) or, when the script says so, recorded as a deviation
// (ceremony.unscripted) and taken. No script, or a script naming no
// witnesses: every sign-off is taken.
func (d *Driver) scriptedWitness(ctx context.Context, a WitnessAnswer) (taken bool, err error) {
	s := d.Station.Script
	ok, msg := ScriptNamesWitness(s, a.Name, a.Role)
	if ok {
		return true, nil
	}
	if !s.Deviates() {
		d.Tell(msg + ": the sign-off is not taken; a witness the script names signs off.")
		return false, nil
	}
	return true, d.Inst.Record(ctx, events.SourceOperator, &events.Unscripted{What: "witness", Name: a.Name,
		Message: msg + "; the script says to go on and record it as a deviation"})
}
