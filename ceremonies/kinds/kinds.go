// Package kinds lists every ceremony kind this build runs, once. The
// events registry, the engine's definitions, the read models, the CLI,
// the report and health all loop over List; adding a kind is one line
// here (ARCHITECTURE.md, "Adding a kind, an adapter or an event version").
package kinds

import (
	"fmt"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/account"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/cardreset"
	"github.com/ceremony-hsm/ceremony/ceremonies/custody"
	"github.com/ceremony-hsm/ceremony/ceremonies/hsmbackup"
	"github.com/ceremony-hsm/ceremony/ceremonies/pinchange"
	"github.com/ceremony-hsm/ceremony/ceremonies/sharecheck"
	"github.com/ceremony-hsm/ceremony/ceremonies/sharecopy"
	"github.com/ceremony-hsm/ceremony/ceremonies/usercard"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// List returns every ceremony kind, each a new value. Every kind takes a
// witness's sign-off (ceremony.witnessed), also after its end, and a
// script's step checked off; a kind with a Start accepts the events the
// generic start command records after the first (ceremonies.StartEvents),
// and the generic --witnesses parameter (ceremonies.WithWitnesses).
func List() []ceremonies.Kind {
	list := []ceremonies.Kind{
		backupkey.Generate(),
		backupkey.Load(),
		sharecopy.ShareCopy(),
		sharecheck.ShareCheck(),
		custody.CardAssign(),
		pinchange.PINChange(),
		cardreset.CardResetKind(),
		usercard.Enrol(),
		usercard.Activate(),
		hsmbackup.Backup(),
		hsmbackup.Restore(),
		account.AccountChange(),
	}
	for _, k := range list {
		ceremonies.WithWitnesses(k.Start)
		d := k.Definition
		// ceremony.unscripted (a card, operator or witness the script does
		// not name, recorded as a deviation) may come in any phase.
		d.Annotations = append(d.Annotations, events.Witnessed{}.EventType(), events.ScriptStepChecked{}.EventType(), events.Unscripted{}.EventType())
		if k.Start != nil && !d.IsTerminal(d.Initial) {
			if d.Data == nil {
				d.Data = map[string][]string{}
			}
			d.Data[d.Initial] = append(d.Data[d.Initial], ceremonies.StartEvents()...)
		}
	}
	return list
}

// Lookup returns the kind named name; an unknown name is an error
// listing the known ones.
func Lookup(name string) (ceremonies.Kind, error) {
	var names []string
	for _, k := range List() {
		if k.Name() == name {
			return k, nil
		}
		names = append(names, k.Name())
	}
	return ceremonies.Kind{}, fmt.Errorf("ceremony kind %q: %w (this build knows %v)", name, engine.ErrUnknownKind, names)
}

// Definitions returns every kind's state machine, for the engine.
func Definitions() []*engine.Definition {
	var out []*engine.Definition
	for _, k := range List() {
		out = append(out, k.Definition)
	}
	return out
}

// Registry returns the events registry: the common payload types and
// every kind's. A clash (one event type, two Go types or versions) is a
// programming error any test finds: it panics.
func Registry() *events.Registry {
	r := events.NewRegistry()
	if err := r.Add(events.CommonPayloads()...); err != nil {
		panic(err)
	}
	for _, k := range List() {
		if err := r.Add(k.Payloads...); err != nil {
			panic(fmt.Sprintf("kind %s: %v", k.Name(), err))
		}
	}
	return r
}
