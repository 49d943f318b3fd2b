// Package kinds is the explicit registry of every ceremony kind this build
// runs: the one list the CLI hands to the engine, and the tests check.
package kinds

import (
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/hsmbackup"
	"github.com/ceremony-hsm/ceremony/ceremonies/pinchange"
	"github.com/ceremony-hsm/ceremony/ceremonies/sharecopy"
	"github.com/ceremony-hsm/ceremony/ceremonies/usercard"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Definitions returns a new definition of every ceremony kind. Every kind
// takes a witness's sign-off (ceremony.witnessed), also after its end.
func Definitions() []*engine.Definition {
	defs := append(backupkey.Definitions(), hsmbackup.Definitions()...)
	defs = append(defs, usercard.Definitions()...)
	defs = append(defs, pinchange.Definition(), sharecopy.Definition())
	for _, d := range defs {
		d.Annotations = append(d.Annotations, events.Witnessed{}.EventType())
	}
	return defs
}
