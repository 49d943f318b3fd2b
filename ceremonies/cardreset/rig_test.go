package cardreset_test

import (
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies"
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

// reset runs a card reset started through the kind's Start (as the CLI does),
// by carol, with the given cards and keys.
func (r *rig) reset(id string, params ceremonies.Params, plan []string, entries ...pinpad.Entry) *engine.Instance {
	r.T.Helper()
	return r.Ceremony(cardreset.CardResetKind(), id, params, "carol", plan, entries...)
}
