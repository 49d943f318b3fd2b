package backupkey_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/events"
)

// crashReader hands out cards whose nth share write kills the "process"
// (cancels the runner's context) right before or right after the card
// writes: the request event is stored, the outcome never is.
type crashReader struct {
	ceremonies.CardReader
	writes, nth int
	after       bool
	cancel      context.CancelFunc
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

func (c crashCard) WriteShare(b []byte) error {
	c.r.writes++
	if c.r.writes != c.r.nth {
		return c.Card.WriteShare(b)
	}
	if c.r.after {
		c.Card.WriteShare(b)
	}
	c.r.cancel()
	return errors.New("the process died")
}

func TestAWriteWithoutOutcomeIsCheckedOnTheCard(t *testing.T) {
	for _, landed := range []bool{true, false} {
		name := map[bool]string{true: "the write had landed: the set is finished", false: "the write never happened: the set is void"}[landed]
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			threeCards(r)
			inst := r.StartGenerate("gen-p", q23)
			ctx, cancel := context.WithCancel(r.Ctx)
			defer cancel()
			run := r.runner(false)
			run.Station.Reader = &crashReader{CardReader: r.Port, nth: 2, after: landed, cancel: cancel}
			r.Script([]string{"c1", "c2"}, append([]pinpad.Entry{ok}, r.CardSteps("c1", "c2")...)...)
			if err := run.Run(ctx, inst); err == nil {
				t.Fatal("the crashed run reported success")
			}
			r.Restart()
			inst, err := r.Eng.Get("gen-p")
			if err != nil {
				t.Fatal(err)
			}
			r.Reader.Remove()
			entries := r.CardSteps("c2") // "Insert 2. card": the card whose write is unknown
			plan := []string{"c2"}
			if landed {
				entries = append(entries, ok)
				entries = append(entries, r.CardSteps("c1", "c2")...)
				plan = append(plan, "c1", "c2")
			}
			r.Script(plan, entries...)
			if err := r.runner(true).Run(r.Ctx, inst); err != nil {
				t.Fatal(err)
			}
			types := r.Types("gen-p")
			written := payloads[*events.ShareWritten](r, "gen-p")
			if landed {
				wantPhase(t, inst, backupkey.PhaseCompleted)
				if len(written) != 2 || written[1].Serial != r.Cards["c2"].Serial() || !slices.Contains(types, "ceremony.secrets_lost") {
					t.Fatalf("share_written %+v; types %v", written, types)
				}
			} else {
				wantPhase(t, inst, backupkey.PhaseVoid)
				failed := payloads[*events.ShareWriteFailed](r, "gen-p")
				if len(written) != 1 || len(failed) != 1 || failed[0].Serial != r.Cards["c2"].Serial() {
					t.Fatalf("written %+v failed %+v", written, failed)
				}
			}
		})
	}
}
