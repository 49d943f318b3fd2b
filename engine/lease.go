package engine

import (
	"fmt"
	"sync"
)

// Leases gives a resource to one ceremony at a time (ARCHITECTURE.md,
// "Engine rules"). A resource is any name the caller chooses, such as
// "device:NAME"; the engine gives them no meaning. Leases live in this
// process only.
type Leases struct {
	mu   sync.Mutex
	held map[string]string // resource -> ceremony id
}

func newLeases() *Leases { return &Leases{held: map[string]string{}} }

// Acquire gives resource to ceremonyID. Acquiring a lease one already
// holds succeeds.
func (l *Leases) Acquire(resource, ceremonyID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.held[resource]; ok && h != ceremonyID {
		return fmt.Errorf("engine: %s: %w %s; finish or abort that ceremony first", resource, ErrLeased, h)
	}
	l.held[resource] = ceremonyID
	return nil
}

// Release returns resource if ceremonyID holds it.
func (l *Leases) Release(resource, ceremonyID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[resource] == ceremonyID {
		delete(l.held, resource)
	}
}

// ReleaseAll returns every lease ceremonyID holds.
func (l *Leases) ReleaseAll(ceremonyID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for r, h := range l.held {
		if h == ceremonyID {
			delete(l.held, r)
		}
	}
}

// Holder returns the ceremony holding resource.
func (l *Leases) Holder(resource string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.held[resource]
	return h, ok
}
