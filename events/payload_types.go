package events

import (
	"fmt"
	"reflect"
)

// PayloadType declares one payload type at its current schema version,
// with the upcasters from its older versions. A ceremony kind declares the
// types its events carry (ceremonies.Kind.Payloads); the registry is built
// from those declarations and CommonPayloads.
type PayloadType struct {
	Version   int
	New       func() Payload   // a pointer to a zero payload
	Upcasters map[int]Upcaster // from version -> version+1
}

// Declare declares the payload type *T at schema version 1.
func Declare[T any, P interface {
	*T
	Payload
}]() PayloadType {
	return PayloadType{Version: 1, New: func() Payload { return P(new(T)) }}
}

// Upcast returns pt with the upcaster from version from to from+1; the
// current version becomes at least from+1.
func (pt PayloadType) Upcast(from int, up Upcaster) PayloadType {
	ups := map[int]Upcaster{from: up}
	for v, u := range pt.Upcasters {
		ups[v] = u
	}
	pt.Upcasters = ups
	if pt.Version < from+1 {
		pt.Version = from + 1
	}
	return pt
}

// Name returns the event type the payload is recorded as.
func (pt PayloadType) Name() string { return pt.New().EventType() }

// Add registers payload types. Declaring a type again with the same Go
// type, version and upcaster steps is allowed (kinds that share a payload
// each declare it); any other clash is an error naming the type.
func (r *Registry) Add(pts ...PayloadType) error {
	for _, pt := range pts {
		if pt.New == nil {
			return fmt.Errorf("events: a payload type without a constructor")
		}
		typ := pt.Name()
		if ti, ok := r.types[typ]; ok {
			if reflect.TypeOf(ti.newFn()) != reflect.TypeOf(pt.New()) || ti.current != pt.Version || len(ti.upcasters) != len(pt.Upcasters) {
				return fmt.Errorf("events: %q declared twice with different Go types, versions or upcasters (%T v%d, %T v%d)", typ, ti.newFn(), ti.current, pt.New(), pt.Version)
			}
			continue
		}
		if pt.Version < 1 {
			return fmt.Errorf("events: %q: version must be >= 1", typ)
		}
		for v := 1; v < pt.Version; v++ {
			if pt.Upcasters[v] == nil {
				return fmt.Errorf("events: %q version %d: no upcaster from version %d", typ, pt.Version, v)
			}
		}
		r.Register(pt.Version, pt.New)
		for from, up := range pt.Upcasters {
			r.RegisterUpcaster(typ, from, up)
		}
	}
	return nil
}

// CommonPayloads are the payload types every kind may record: the
// lifecycle (abort, fail, resume, secrets lost), the engine's step
// deadlines, the card observations of the shared card steps, witness
// sign-offs and the dual control's approval.
func CommonPayloads() []PayloadType {
	return []PayloadType{
		Declare[CeremonyAborted](),
		Declare[CeremonyFailed](),
		Declare[CeremonyResumed]().Upcast(1, upcastResumedV1),
		Declare[SecretsLost](),
		Declare[StepDeadlineSet](),
		Declare[StepCompleted](),
		Declare[StepTimedOut](),
		Declare[StepRetried]().Upcast(1, upcastRetriedV1),
		Declare[StepExtended](),
		Declare[CardPresented]().Upcast(1, upcastCardPresentedV1),
		Declare[CardRefused](),
		Declare[CardRemoved](),
		Declare[PINRetriesRead](),
		Declare[PINVerified]().Upcast(1, UpcastEntryV1).Upcast(2, UpcastByUnknown),
		Declare[PINRejected]().Upcast(1, UpcastEntryV1).Upcast(2, UpcastByUnknown),
		Declare[CardBlocked](),
		Declare[SerialConflict](),
		Declare[ReaderEvent](),
		Declare[Witnessed](),
		Declare[WitnessesRequired]().Upcast(1, UpcastUnchanged),
		Declare[ApprovalRequired](),
		Declare[Approved](),
		Declare[ScriptBound](),
		Declare[ScriptStepChecked](),
		Declare[Unscripted](),
		Declare[StationDescribed](),
	}
}
