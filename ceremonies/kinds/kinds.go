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
)

// Definitions returns a new definition of every ceremony kind.
func Definitions() []*engine.Definition {
	defs := append(backupkey.Definitions(), hsmbackup.Definitions()...)
	defs = append(defs, usercard.Definitions()...)
	return append(defs, pinchange.Definition(), sharecopy.Definition())
}
