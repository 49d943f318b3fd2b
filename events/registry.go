package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
)

// Payload is the typed body of an event. EventType names it in the
// envelope's Type field, e.g. "backupkey.share_written".
type Payload interface {
	EventType() string
}

// Upcaster turns the JSON payload of schema version v into version v+1.
// It must be pure: the same input always gives the same output.
type Upcaster func(old json.RawMessage) (json.RawMessage, error)

// ErrUnknownType and ErrUnknownVersion are returned (wrapped) when an event
// cannot be decoded because this build does not know its type or version.
var (
	ErrUnknownType    = errors.New("unknown event type")
	ErrUnknownVersion = errors.New("unknown event schema version")
	ErrMalformed      = errors.New("malformed event")
)

type typeInfo struct {
	current   int
	newFn     func() Payload
	upcasters map[int]Upcaster // from version -> to version+1
	plan      *plan            // nil: encoding/json does the work
	goType    reflect.Type     // the struct newFn points to
}

// Registry knows every payload type, its current schema version and the
// upcasters from older versions. Build one with NewRegistry or
// Add (ceremonies/kinds.Registry builds the full one); there is no global
// registry.
type Registry struct {
	types map[string]typeInfo
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{types: map[string]typeInfo{}} }

// Register adds a payload type at its current schema version. newFn returns
// a pointer to a zero payload. Registering a type twice panics: it is a
// programming error found by any test that builds the registry.
func (r *Registry) Register(current int, newFn func() Payload) {
	typ := newFn().EventType()
	if _, dup := r.types[typ]; dup {
		panic("events: type registered twice: " + typ)
	}
	if current < 1 {
		panic("events: version must be >= 1: " + typ)
	}
	ti := typeInfo{current: current, newFn: newFn, upcasters: map[int]Upcaster{}}
	if t := reflect.TypeOf(newFn()); t.Kind() == reflect.Pointer {
		ti.goType, ti.plan = t.Elem(), newPlan(t.Elem())
	}
	r.types[typ] = ti
}

// RegisterUpcaster adds the upcaster from version `from` to from+1 of typ.
func (r *Registry) RegisterUpcaster(typ string, from int, up Upcaster) {
	ti, ok := r.types[typ]
	if !ok {
		panic("events: upcaster for unregistered type: " + typ)
	}
	ti.upcasters[from] = up
}

// Types lists the registered types, sorted.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.types))
	for t := range r.types {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Zero returns a new zero payload of typ.
func (r *Registry) Zero(typ string) (Payload, bool) {
	ti, ok := r.types[typ]
	if !ok {
		return nil, false
	}
	return ti.newFn(), true
}

// CurrentVersion returns the schema version new events of typ are written at.
func (r *Registry) CurrentVersion(typ string) (int, error) {
	ti, ok := r.types[typ]
	if !ok {
		return 0, fmt.Errorf("events: %q: %w", typ, ErrUnknownType)
	}
	return ti.current, nil
}

// Marshal encodes p at its current version.
func (r *Registry) Marshal(p Payload) (typ string, version int, raw json.RawMessage, err error) {
	typ = p.EventType()
	ti, ok := r.types[typ]
	if !ok {
		return "", 0, nil, fmt.Errorf("events: marshal %q: %w", typ, ErrUnknownType)
	}
	raw, err = ti.marshal(p)
	if err != nil {
		return "", 0, nil, fmt.Errorf("events: marshal %q: %w", typ, err)
	}
	return typ, ti.current, raw, nil
}

// DecodePayload returns the typed payload of e, upcasting old versions. It
// is strict: unknown type, unknown version, a missing upcaster step or an
// unknown JSON field is an error.
func (r *Registry) DecodePayload(e Envelope) (Payload, error) {
	ti, ok := r.types[e.Type]
	if !ok {
		return nil, fmt.Errorf("events: ceremony %s position %d: %q: %w (this build is older than the data: upgrade before reading it)", e.CeremonyID, e.Position, e.Type, ErrUnknownType)
	}
	if e.Version < 1 || e.Version > ti.current {
		return nil, fmt.Errorf("events: ceremony %s position %d: %q version %d (this build knows 1..%d): %w", e.CeremonyID, e.Position, e.Type, e.Version, ti.current, ErrUnknownVersion)
	}
	raw := e.Payload
	for v := e.Version; v < ti.current; v++ {
		up, ok := ti.upcasters[v]
		if !ok {
			return nil, fmt.Errorf("events: %q: no upcaster from version %d: %w", e.Type, v, ErrUnknownVersion)
		}
		var err error
		if raw, err = up(raw); err != nil {
			return nil, fmt.Errorf("events: ceremony %s position %d: upcast %q from version %d: %w", e.CeremonyID, e.Position, e.Type, v, err)
		}
	}
	p := ti.newFn()
	if ti.plan != nil {
		// Fast path: only the canonical form Marshal writes (so no
		// unknown or missing field, no other spelling). Anything else
		// takes the strict decoder, which decides.
		if ti.plan.decode(raw, reflect.ValueOf(p).Elem()) {
			return p, nil
		}
		p = ti.newFn()
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		return nil, fmt.Errorf("events: ceremony %s position %d: payload of %q: %w: %v", e.CeremonyID, e.Position, e.Type, ErrMalformed, err)
	}
	if !atEOF(dec) {
		return nil, fmt.Errorf("events: ceremony %s position %d: payload of %q: %w: trailing data", e.CeremonyID, e.Position, e.Type, ErrMalformed)
	}
	return p, nil
}

// marshal encodes p as json.Marshal does, through the type's plan if it
// has one and p is (a pointer to) its struct.
func (ti typeInfo) marshal(p Payload) ([]byte, error) {
	v := reflect.ValueOf(p)
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if ti.plan == nil || v.Type() != ti.goType {
		return json.Marshal(p)
	}
	return ti.plan.encode(make([]byte, 0, 256), v)
}
