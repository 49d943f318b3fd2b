package pinchange_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/adapters/rehearsal"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/ceremonies/pinchange"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// crashReader's cards kill the "process" (cancel the runner's context)
// around CHANGE REFERENCE DATA: after it ran (landed) or before.
type crashReader struct {
	ceremonies.CardReader
	landed bool
	cancel context.CancelFunc
	armed  bool
}

type crashCard struct {
	ceremonies.Card
	r *crashReader
}

func (c *crashReader) WaitCard(ctx context.Context) (ceremonies.Card, error) {
	card, err := c.CardReader.WaitCard(ctx)
	if err != nil {
		return nil, err
	}
	return crashCard{card, c}, nil
}

func (c crashCard) ChangePIN(s ceremonies.Slot, oldPIN, newPIN []byte) error {
	if !c.r.armed {
		return c.Card.ChangePIN(s, oldPIN, newPIN)
	}
	c.r.armed = false
	if c.r.landed {
		c.Card.ChangePIN(s, oldPIN, newPIN)
	}
	c.r.cancel()
	return errors.New("the process died")
}

// openEngine opens the engine on dir with a fake clock that never moves:
// the steps' one-minute deadlines cannot pass, however slow the machine.
func openEngine(t *testing.T, dir string) (*engine.Engine, *kinds.Views, *jetstream.Store, func()) {
	st, err := jetstream.Open(context.Background(), jetstream.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	views := kinds.NewViews()
	cfg := views.EngineConfig(st)
	cfg.Clock = clockwork.NewFakeClockAt(time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC))
	eng, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	return eng, views, st, func() { eng.Close(); st.Close() }
}

func TestAnInterruptedPINChangeIsSettledOnTheCard(t *testing.T) {
	const old, newPIN, wrong = "11223344", "55667788", "99999999"
	pin := func(p string) pinpad.Entry { return pinpad.Entry{Kind: pinpad.PIN, PIN: p} }
	ok := pinpad.Entry{Kind: pinpad.OK}
	cases := []struct {
		name       string
		landed     bool
		wrongFirst bool           // one wrong old PIN before the change: the counter is below the maximum
		resume     []pinpad.Entry // after the restart
		outcome    string
		how        string
	}{
		{"landed, counter at maximum: one VERIFY of the new PIN", true, false, []pinpad.Entry{ok, pin(newPIN)}, "changed", "verified new PIN"},
		{"not applied, counter at maximum: the VERIFY fails, then the change is done again", false, false,
			[]pinpad.Entry{ok, pin(newPIN), ok, pin(old), pin(newPIN), pin(newPIN)}, "not-applied", "verified new PIN: refused, one try spent"},
		{"landed after a wrong try: the counter tells, no try spent", true, true, []pinpad.Entry{ok}, "changed", "retry counter: reset by the change"},
		{"not applied after a wrong try: the counter tells", false, true, []pinpad.Entry{ok, ok, pin(old), pin(newPIN), pin(newPIN)}, "not-applied", "retry counter: unchanged, the command never ran"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			card, err := cardemu.Create(filepath.Join(dir, "c.img"), cardemu.Options{Serial: 9, PW1: []byte(old), PW3: []byte(old)})
			if err != nil {
				t.Fatal(err)
			}
			reader, port := rehearsal.NewReader("r")
			reader.Insert(card)
			eng, views, _, closeEng := openEngine(t, filepath.Join(dir, "data"))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			first := []pinpad.Entry{ok}
			if tc.wrongFirst {
				first = append(first, pin(wrong), pin(newPIN), pin(newPIN), pin(old), pin(newPIN), pin(newPIN))
			} else {
				first = append(first, pin(old), pin(newPIN), pin(newPIN))
			}
			pad := pinpad.NewScripted(nil, first...)
			cr := &crashReader{CardReader: port, landed: tc.landed, cancel: cancel}
			st := &ceremonies.Station{Pad: pad, Reader: cr, StepTimeout: time.Minute}
			inst, err := eng.Start(ctx, pinchange.Kind, "pin-1", events.SourceOperator, &events.PINChangeStarted{Operator: "alice", Reader: "r", Slot: "backup"})
			if err != nil {
				t.Fatal(err)
			}
			cr.armed = !tc.wrongFirst // arm at the change that will be sent with the right old PIN
			if tc.wrongFirst {
				// The first change (wrong old PIN) runs; arm for the second.
				pad.OnShow = func(l1, _ string) {
					if l1 == "Wrong PIN" {
						cr.armed = true
					}
				}
			}
			if err := (&pinchange.Runner{Env: ceremonies.Env{Engine: eng, Inventory: views.Inventory, Station: st}}).Run(ctx, inst); err == nil {
				t.Fatal("the crashed run reported success")
			}
			closeEng()

			eng, views, store, closeEng := openEngine(t, filepath.Join(dir, "data"))
			defer closeEng()
			inst, err = eng.Get("pin-1")
			if err != nil {
				t.Fatal(err)
			}
			st = &ceremonies.Station{Pad: pinpad.NewScripted(nil, tc.resume...), Reader: port, StepTimeout: time.Minute}
			if err := (&pinchange.Runner{Env: ceremonies.Env{Engine: eng, Inventory: views.Inventory, Station: st}}).Run(context.Background(), inst); err != nil {
				t.Fatal(err)
			}
			if inst.Phase() != pinchange.PhaseCompleted {
				t.Fatalf("phase %s", inst.Phase())
			}
			all := resolved(t, store, "pin-1")
			if len(all) != 1 {
				t.Fatalf("pin.change_resolved events: %+v", all)
			}
			got := all[0]
			if got.Outcome != tc.outcome || got.How != tc.how {
				t.Fatalf("resolved %+v, want %s / %s", got, tc.outcome, tc.how)
			}
			if c, _ := views.Inventory.Card(card.Serial()); c.DefaultPIN["PW3"] {
				t.Fatal("default-PIN flag set")
			}
			if tries, err := mustCard(t, port).PINTries(ceremonies.BackupSlot); err != nil || tries == 0 {
				t.Fatalf("tries %d %v", tries, err)
			}
			if err := mustCard(t, port).VerifyPIN(ceremonies.BackupSlot, []byte(newPIN)); err != nil {
				t.Fatalf("the new PIN is not in force: %v", err)
			}
		})
	}
}

func mustCard(t *testing.T, port ceremonies.CardReader) ceremonies.Card {
	c, err := port.WaitCard(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func resolved(t *testing.T, store *jetstream.Store, id string) []*events.PINChangeResolved {
	recs, err := store.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []*events.PINChangeResolved
	reg := kinds.Registry()
	for _, r := range recs {
		p, err := reg.DecodePayload(r.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := p.(*events.PINChangeResolved); ok {
			out = append(out, v)
		}
	}
	return out
}
