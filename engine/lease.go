package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Leaser gives a resource to one ceremony at a time (ARCHITECTURE.md,
// "Engine rules"). A resource is any name the caller chooses, such as
// "device:NAME"; the engine gives them no meaning. Leases (below) live in
// this process only; an adapter may hold them across processes and nodes.
type Leaser interface {
	// Acquire gives resource to ceremonyID, or returns an error wrapping
	// ErrLeased that names the holder. Acquiring again a lease this
	// Leaser already gave to ceremonyID succeeds.
	Acquire(resource, ceremonyID string) error
	// Release returns resource if ceremonyID holds it here.
	Release(resource, ceremonyID string)
	// ReleaseAll returns every lease ceremonyID holds here.
	ReleaseAll(ceremonyID string)
	// Holder returns the ceremony holding resource, wherever it runs.
	Holder(resource string) (string, bool)
}

// RunnerLease is the resource a runner holds for a ceremony's whole run:
// while it is held, no other runner may drive the ceremony, and a
// ceremony that is not ended and has no such lease has no process
// running it.
func RunnerLease(ceremonyID string) string { return "ceremony:" + ceremonyID }

// HoldRunner acquires the runner lease of ceremony id, calls run and
// releases the lease: two runners (in any two processes sharing the
// Leaser's store) never drive one ceremony at once. run's context ends
// if the lease is lost meanwhile (WatchLease); run's error is then the
// lost lease, unless it says so already.
func HoldRunner(ctx context.Context, l Leaser, id string, run func(context.Context) error) error {
	if err := l.Acquire(RunnerLease(id), id); err != nil {
		return fmt.Errorf("ceremony %s is running elsewhere: %w", id, err)
	}
	defer l.Release(RunnerLease(id), id)
	watched, stop := WatchLease(ctx, l, RunnerLease(id), id)
	defer stop()
	return LostLeaseOr(watched, run(watched))
}

// LostLeaseOr returns the lost-lease error that ended ctx (WatchLease)
// in place of err, the error of what ran under ctx, unless err already
// wraps ErrLeaseLost; otherwise err.
func LostLeaseOr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, ErrLeaseLost) && !errors.Is(err, ErrLeaseLost) {
		return cause
	}
	return err
}

// LeaseKeeper is a Leaser whose leases can be lost: expired, taken by
// another process, or not renewed for their TTL (the lease store was
// unreachable). Check returns an error wrapping ErrLeaseLost when this
// Leaser held resource for ceremonyID and lost it, nil otherwise (held,
// or never held here). Before every append the engine checks the runner
// lease of the ceremony: a runner that lost it records nothing more.
type LeaseKeeper interface {
	Check(resource, ceremonyID string) error
}

// leaseWatchInterval is how often WatchLease asks its LeaseKeeper (a
// look at what this process knows, no request to the lease store).
const leaseWatchInterval = 250 * time.Millisecond

// WatchLease returns a context that is cancelled, with the lost-lease
// error as its cause (context.Cause), once l says this process lost
// resource, held for ceremonyID: a runner waiting at a prompt stops then,
// not only when it next records. stop ends the watch. With a Leaser that
// cannot lose leases it returns ctx as it is.
func WatchLease(ctx context.Context, l Leaser, resource, ceremonyID string) (watched context.Context, stop func()) {
	k, ok := l.(LeaseKeeper)
	if !ok {
		return ctx, func() {}
	}
	watched, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(leaseWatchInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-watched.Done():
				return
			case <-t.C:
				if err := k.Check(resource, ceremonyID); err != nil {
					cancel(lostLease(ceremonyID, err))
					return
				}
			}
		}
	}()
	var once sync.Once
	return watched, func() {
		once.Do(func() { close(done) })
		cancel(nil)
	}
}

// LeaseReader is a Leaser that tells a lease it could not read from no
// lease: health must not call a ceremony orphaned because the lease
// store was unreachable.
type LeaseReader interface {
	Lookup(resource string) (ceremonyID string, held bool, err error)
}

// LostLeaseError says a runner lost its ceremony's lease and stopped.
func lostLease(ceremonyID string, err error) error {
	return fmt.Errorf("lost the lease on ceremony %s: another process may run it; stopped (%w)", ceremonyID, err)
}

// checkRunnerLease refuses a record by a runner that lost the lease.
func (e *Engine) checkRunnerLease(ceremonyID string) error {
	k, ok := e.leases.(LeaseKeeper)
	if !ok {
		return nil
	}
	if err := k.Check(RunnerLease(ceremonyID), ceremonyID); err != nil {
		return lostLease(ceremonyID, err)
	}
	return nil
}

// Leases is the Leaser of one process.
type Leases struct {
	mu   sync.Mutex
	held map[string]string // resource -> ceremony id
}

var _ Leaser = (*Leases)(nil)

// NewLeases returns an empty in-process lease table.
func NewLeases() *Leases { return newLeases() }

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
