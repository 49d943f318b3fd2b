package jetstream

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/ceremony-hsm/ceremony/engine"
)

// Lease timing defaults: a holder that stops heartbeating (killed, cut
// off) loses its leases after DefaultLeaseTTL.
const (
	DefaultLeaseTTL = 15 * time.Second
	leaseOpTimeout  = 5 * time.Second
)

// LeaseBucket is the KV bucket of the leases of the store whose stream
// is stream.
func LeaseBucket(stream string) string { return stream + "_leases" }

// LeaseConfig says where the leases are and how long they last.
type LeaseConfig struct {
	Bucket   string        // the KV bucket; LeaseBucket(stream name) for a store
	Replicas int           // of the bucket: the event stream's
	TTL      time.Duration // a lease not renewed for TTL expires; 0: DefaultLeaseTTL
	Owner    string        // names this process in a refusal; "": pid and host
}

// leaseValue is what a lease key holds: who holds it, for a refusal.
type leaseValue struct {
	Resource string    `json:"resource"`
	Ceremony string    `json:"ceremony"`
	Owner    string    `json:"owner"`
	Since    time.Time `json:"since"`
}

// held is a lease this process holds: its key and the revision of its
// last renewal.
type held struct {
	key, ceremony string
	val           []byte
	rev           uint64
	renewed       time.Time // last successful create or renewal
}

// Leases is an engine.Leaser in a JetStream KV bucket, shared by every
// process and node on the stream's servers (ARCHITECTURE.md, "Engine
// rules"). A lease is a key created with Create (refused when the key is
// there), renewed by Update on its revision from a heartbeat every TTL/3,
// and released by Delete. The bucket's TTL drops a lease whose holder
// stopped renewing it. Close stops the heartbeat and releases every
// lease still held.
type Leases struct {
	js    natsjs.JetStream
	kv    natsjs.KeyValue
	ttl   time.Duration
	owner string

	mu   sync.Mutex
	held map[string]*held // resource -> lease held here
	lost map[string]lost  // resource -> lease held here and lost (engine.LeaseKeeper)

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

var (
	_ engine.Leaser      = (*Leases)(nil)
	_ engine.LeaseKeeper = (*Leases)(nil)
	_ engine.LeaseReader = (*Leases)(nil)
)

// lost is a lease this process held and lost, and why.
type lost struct{ ceremony, why string }

// OpenLeases opens (creating it if missing) the lease bucket on nc and
// starts the heartbeat. An existing bucket with another TTL is refused:
// every process on it must agree how long a lease lasts.
func OpenLeases(ctx context.Context, nc *nats.Conn, cfg LeaseConfig) (*Leases, error) {
	if cfg.Bucket == "" {
		return nil, fmt.Errorf("jetstream: LeaseConfig.Bucket is empty: give the lease bucket's name")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultLeaseTTL
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		cfg.Owner = fmt.Sprintf("pid %d on %s", os.Getpid(), host)
	}
	js, err := natsjs.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: lease bucket %s: %w", cfg.Bucket, err)
	}
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, natsjs.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, natsjs.KeyValueConfig{
			Bucket: cfg.Bucket, Description: "ceremony leases (readers, cards, HSMs, running ceremonies)",
			History: 1, TTL: cfg.TTL, Replicas: cfg.Replicas, Storage: natsjs.FileStorage,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream: open the lease bucket %s: %w", cfg.Bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("jetstream: lease bucket %s: %w", cfg.Bucket, err)
	}
	if st.TTL() != cfg.TTL {
		return nil, fmt.Errorf("jetstream: lease bucket %s has TTL %v, not %v: every process must use the same lease TTL", cfg.Bucket, st.TTL(), cfg.TTL)
	}
	l := &Leases{js: js, kv: kv, ttl: cfg.TTL, owner: cfg.Owner, held: map[string]*held{}, lost: map[string]lost{}, stop: make(chan struct{}), done: make(chan struct{})}
	go l.heartbeat()
	return l, nil
}

// leaseKey turns a resource (any text) into a KV key.
func leaseKey(resource string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(resource))
}

// Acquire creates resource's key for ceremonyID. When another holds it,
// the error wraps engine.ErrLeased and names the ceremony, the holding
// process and since when.
func (l *Leases) Acquire(resource, ceremonyID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.held[resource]; ok {
		if h.ceremony == ceremonyID {
			return nil
		}
		return fmt.Errorf("jetstream: %s: %w %s here; finish or abort that ceremony first", resource, engine.ErrLeased, h.ceremony)
	}
	ctx, cancel := context.WithTimeout(context.Background(), leaseOpTimeout)
	defer cancel()
	val, err := json.Marshal(leaseValue{Resource: resource, Ceremony: ceremonyID, Owner: l.owner, Since: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("jetstream: lease %s: %w", resource, err)
	}
	key := leaseKey(resource)
	rev, err := l.kv.Create(ctx, key, val)
	if errors.Is(err, natsjs.ErrKeyExists) {
		return l.refusal(ctx, resource, key)
	}
	if err != nil {
		return fmt.Errorf("jetstream: acquire the lease %s: %w", resource, err)
	}
	l.held[resource] = &held{key: key, ceremony: ceremonyID, val: val, rev: rev, renewed: time.Now()}
	delete(l.lost, resource)
	return nil
}

// refusal names who holds key.
func (l *Leases) refusal(ctx context.Context, resource, key string) error {
	e, err := l.kv.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("jetstream: %s: %w another process (its lease could not be read: %v); try again", resource, engine.ErrLeased, err)
	}
	var v leaseValue
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return fmt.Errorf("jetstream: %s: %w another process (unreadable lease); try again", resource, engine.ErrLeased)
	}
	return fmt.Errorf("jetstream: %s: %w %s, run by %s since %s; finish or abort that ceremony there, or wait %v after that process died",
		resource, engine.ErrLeased, v.Ceremony, v.Owner, v.Since.Format(time.RFC3339), l.ttl)
}

// Release deletes resource's key if ceremonyID holds it here.
func (l *Leases) Release(resource, ceremonyID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.held[resource]; ok && h.ceremony == ceremonyID {
		l.release(resource, h)
	}
	if l.lost[resource].ceremony == ceremonyID {
		delete(l.lost, resource)
	}
}

// ReleaseAll deletes every key ceremonyID holds here.
func (l *Leases) ReleaseAll(ceremonyID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for r, h := range l.held {
		if h.ceremony == ceremonyID {
			l.release(r, h)
		}
	}
	for r, lo := range l.lost {
		if lo.ceremony == ceremonyID {
			delete(l.lost, r)
		}
	}
}

// release deletes h's key on its revision (so a lease that expired and
// was taken by another is left alone). A failed delete leaves the key to
// expire after the TTL. Called with l.mu held.
func (l *Leases) release(resource string, h *held) {
	delete(l.held, resource)
	ctx, cancel := context.WithTimeout(context.Background(), leaseOpTimeout)
	defer cancel()
	_ = l.kv.Delete(ctx, h.key, natsjs.LastRevision(h.rev))
}

// Holder returns the ceremony holding resource in any process, or false
// when no live lease is on it (or the bucket cannot be read).
func (l *Leases) Holder(resource string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), leaseOpTimeout)
	defer cancel()
	e, err := l.kv.Get(ctx, leaseKey(resource))
	if err != nil {
		return "", false
	}
	var v leaseValue
	if json.Unmarshal(e.Value(), &v) != nil {
		return "", false
	}
	return v.Ceremony, true
}

// heartbeat renews every lease held here each TTL/3. A renewal refused
// on its revision means the lease expired and another took it: it is no
// longer held here.
func (l *Leases) heartbeat() {
	defer close(l.done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		l.mu.Lock()
		for r, h := range l.held {
			ctx, cancel := context.WithTimeout(context.Background(), leaseOpTimeout)
			rev, err := l.kv.Update(ctx, h.key, h.val, h.rev)
			cancel()
			switch {
			case err == nil:
				h.rev, h.renewed = rev, time.Now()
			case errors.Is(err, natsjs.ErrKeyNotFound) || errors.Is(err, natsjs.ErrKeyExists) || isWrongSequence(err):
				l.loseLocked(r, h, "it expired and was dropped or taken by another process")
			default:
				l.staleLocked(r, h, err)
			}
		}
		l.mu.Unlock()
	}
}

// isWrongSequence tells a compare-and-set refused on its revision.
func isWrongSequence(err error) bool {
	var apiErr *natsjs.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequence
}

// Close stops the heartbeat and releases every lease held here.
func (l *Leases) Close() {
	l.once.Do(func() {
		close(l.stop)
		<-l.done
		l.mu.Lock()
		defer l.mu.Unlock()
		for r, h := range l.held {
			l.release(r, h)
		}
	})
}

// OpenLeases opens the leases of the store: bucket LeaseBucket of its
// stream, with the stream's replicas, on its connection. ttl 0 is
// DefaultLeaseTTL.
//
// On the embedded server the first call drops every lease in the bucket:
// this process holds the data directory's lock, so they were taken
// through an earlier server on it, by processes killed with it (or cut
// off from it). Their holders' ceremonies have no runner.
func (s *Store) OpenLeases(ctx context.Context, ttl time.Duration) (*Leases, error) {
	if err := s.usable("open the leases"); err != nil {
		return nil, err
	}
	l, err := OpenLeases(ctx, s.nc, LeaseConfig{Bucket: LeaseBucket(s.name), Replicas: s.replicas, TTL: ttl})
	if err != nil || s.srv == nil || !s.leasesPurged.CompareAndSwap(false, true) {
		return l, err
	}
	if err := l.purgeAll(ctx); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// purgeAll drops every lease in the bucket (it purges the bucket's
// stream). A bucket that holds no lease is left alone: a purge rewrites
// the stream's files even when only deletion markers are left, and a read
// command must change no file of the store.
func (l *Leases) purgeAll(ctx context.Context) error {
	keys, err := l.kv.Keys(ctx)
	if errors.Is(err, natsjs.ErrNoKeysFound) || (err == nil && len(keys) == 0) {
		return nil // no lease held: nothing stale to drop, no file to touch
	}
	if err != nil {
		return fmt.Errorf("jetstream: list the leases of bucket %s: %w", l.kv.Bucket(), err)
	}
	stream, err := l.js.Stream(ctx, "KV_"+l.kv.Bucket())
	if err == nil {
		err = stream.Purge(ctx)
	}
	if err != nil {
		return fmt.Errorf("jetstream: drop the stale leases of bucket %s: %w", l.kv.Bucket(), err)
	}
	return nil
}

// loseLocked records that the lease h on resource is no longer held here.
func (l *Leases) loseLocked(resource string, h *held, why string) {
	delete(l.held, resource)
	l.lost[resource] = lost{ceremony: h.ceremony, why: why}
}

// staleLocked counts h as lost when it was not renewed for the TTL: the
// bucket may have dropped it, and another process may hold it now.
func (l *Leases) staleLocked(resource string, h *held, err error) {
	if since := time.Since(h.renewed); since >= l.ttl {
		why := fmt.Sprintf("it was not renewed for %v, longer than its TTL %v", since.Round(time.Second), l.ttl)
		if err != nil {
			why += fmt.Sprintf(" (the lease bucket could not be reached: %v)", err)
		}
		l.loseLocked(resource, h, why)
	}
}

// Check returns an error wrapping engine.ErrLeaseLost when this process
// held resource for ceremonyID and lost it: expired and taken, deleted,
// or not renewed for the TTL. See engine.LeaseKeeper.
func (l *Leases) Check(resource, ceremonyID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.held[resource]; ok && h.ceremony == ceremonyID {
		l.staleLocked(resource, h, nil)
	}
	if lo, ok := l.lost[resource]; ok && lo.ceremony == ceremonyID {
		return fmt.Errorf("jetstream: %s: %w: %s", resource, engine.ErrLeaseLost, lo.why)
	}
	return nil
}

// Lookup returns the ceremony holding resource in any process; an error
// when the bucket could not be read. See engine.LeaseReader.
func (l *Leases) Lookup(resource string) (string, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), leaseOpTimeout)
	defer cancel()
	e, err := l.kv.Get(ctx, leaseKey(resource))
	if errors.Is(err, natsjs.ErrKeyNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("jetstream: read the lease %s: %w", resource, err)
	}
	var v leaseValue
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return "", false, fmt.Errorf("jetstream: the lease %s does not decode: %w", resource, err)
	}
	return v.Ceremony, true, nil
}
