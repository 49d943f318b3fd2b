package backupkey_test

import (
	"testing"

	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/ceremonytest"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// rig is the shared test station (ceremonytest.Rig) with this kind's
// runner.
type rig struct{ *ceremonytest.Rig }

func newRig(t *testing.T) *rig { return &rig{ceremonytest.New(t)} }

var (
	ok        = ceremonytest.OK
	cancelKey = ceremonytest.Cancel
	stall     = ceremonytest.Stall
	pinEntry  = ceremonytest.PINEntry
	wantPhase = ceremonytest.WantPhase
)

func payloads[T events.Payload](r *rig, id string) []T { return ceremonytest.Payloads[T](r.Rig, id) }

func (r *rig) runner(resumed bool) *backupkey.Runner {
	env := r.Env()
	env.Resumed = resumed
	return &backupkey.Runner{Env: env}
}

// run drives inst to its end and checks the hand met no error.
func (r *rig) run(inst *engine.Instance) {
	r.T.Helper()
	if err := r.runner(false).Run(r.Ctx, inst); err != nil {
		r.T.Fatalf("run %s: %v", inst.ID(), err)
	}
	if err := r.Hand.Err(); err != nil {
		r.T.Fatalf("hand: %v", err)
	}
}
