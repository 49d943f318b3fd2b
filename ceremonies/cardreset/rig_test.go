package cardreset_test

import (
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/cardreset"
	"github.com/ceremony-hsm/ceremony/ceremonies/ceremonytest"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// rig is the shared test station (ceremonytest.Rig).
type rig struct{ *ceremonytest.Rig }

func newRig(t *testing.T) *rig { return &rig{ceremonytest.New(t)} }

var (
	ok        = ceremonytest.OK
	cancelKey = ceremonytest.Cancel
)

func payloads[T events.Payload](r *rig, id string) []T { return ceremonytest.Payloads[T](r.Rig, id) }

// generate writes a 2-of-3 key set to cards c1..c3 and loads it.
func (r *rig) generate() string {
	r.T.Helper()
	c := []string{"c1", "c2", "c3"}
	return r.KeySetOf(r.Generate("gen", backupkey.Quorum{Threshold: 2, Shares: 3}, c, c[:2]))
}

// reset starts a card reset through the kind's Start (as the CLI does)
// and runs it with the given cards and keys.
func (r *rig) reset(id string, params ceremonies.Params, plan []string, entries ...pinpad.Entry) *engine.Instance {
	r.T.Helper()
	inst := r.Start(cardreset.CardResetKind(), id, params, "carol")
	r.Run(cardreset.CardResetKind(), r.Env(), inst, plan, entries...)
	return inst
}
