package jetstream

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/engine"
)

// liveness bounds the waits on a lease's expiry and renewal: far above
// the test's TTL, so that only a lease that never expires (or is never
// renewed) fails; it is no measure of speed.
const liveness = 60 * time.Second

// servedPair starts a store serving on loopback with an nkey (as
// 'ceremony serve' does) and opens two clients of it through TCP with
// the nkey: two stations, each with its own connection and leases.
func servedPair(t *testing.T, ttl time.Duration) (a, b *Store, la, lb *Leases) {
	t.Helper()
	dir := t.TempDir()
	seed := filepath.Join(dir, "user.nk")
	if _, err := CreateNkeySeed(seed); err != nil {
		t.Fatal(err)
	}
	srv, err := Open(t.Context(), Config{DataDir: dir, Listen: "127.0.0.1:0", NkeySeedFile: seed})
	if err != nil {
		t.Fatalf("Open the serving store: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	open := func(owner string) (*Store, *Leases) {
		s, err := Open(t.Context(), Config{Remote: Remote{URLs: []string{srv.ClientURL()}}, NkeySeedFile: seed})
		if err != nil {
			t.Fatalf("Open remote: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		l, err := OpenLeases(t.Context(), s.Conn(), LeaseConfig{Bucket: LeaseBucket(s.StreamName()), TTL: ttl, Owner: owner})
		if err != nil {
			t.Fatalf("OpenLeases as %s (the listener's permissions must allow the lease bucket): %v", owner, err)
		}
		t.Cleanup(l.Close)
		return s, l
	}
	a, la = open("station A")
	b, lb = open("station B")
	return a, b, la, lb
}

// TestTwoProcessesCannotRunOneCeremony: while station A's runner holds
// ceremony gen-1, station B's runner is refused with an error naming the
// ceremony and station A; once A's run ends, B may run it.
func TestTwoProcessesCannotRunOneCeremony(t *testing.T) {
	_, _, la, lb := servedPair(t, 2*time.Second)
	ran := false
	err := engine.HoldRunner(t.Context(), la, "gen-1", func(context.Context) error {
		ran = true
		if h, ok := lb.Holder(engine.RunnerLease("gen-1")); !ok || h != "gen-1" {
			t.Errorf("station B sees holder %q, %v; want gen-1", h, ok)
		}
		err := engine.HoldRunner(t.Context(), lb, "gen-1", func(context.Context) error {
			t.Error("station B ran gen-1 while station A runs it")
			return nil
		})
		if !errors.Is(err, engine.ErrLeased) || !strings.Contains(err.Error(), "station A") || !strings.Contains(err.Error(), "gen-1") {
			t.Errorf("station B's run of gen-1: %v; want ErrLeased naming gen-1 and station A", err)
		}
		return nil
	})
	if err != nil || !ran {
		t.Fatalf("station A's run: %v (ran %v)", err, ran)
	}
	if _, ok := lb.Holder(engine.RunnerLease("gen-1")); ok {
		t.Error("the runner lease is still held after station A's run ended")
	}
	if err := engine.HoldRunner(t.Context(), lb, "gen-1", func(context.Context) error { return nil }); err != nil {
		t.Errorf("station B's run after station A's ended: %v", err)
	}
}

// TestLeaseResources: any resource name (spaces, colons) is a lease; the
// holder may take it again, another ceremony may not, here or elsewhere;
// ReleaseAll frees it.
func TestLeaseResources(t *testing.T) {
	_, _, la, lb := servedPair(t, 2*time.Second)
	const reader = "reader:Virtual PCSC Reader 00 00"
	if err := la.Acquire(reader, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := la.Acquire(reader, "c1"); err != nil {
		t.Errorf("the holder acquiring again: %v", err)
	}
	if err := la.Acquire(reader, "c3"); !errors.Is(err, engine.ErrLeased) || !strings.Contains(err.Error(), "c1") {
		t.Errorf("another ceremony in the same process: %v; want ErrLeased naming c1", err)
	}
	if err := lb.Acquire(reader, "c2"); !errors.Is(err, engine.ErrLeased) || !strings.Contains(err.Error(), "c1") {
		t.Errorf("another process: %v; want ErrLeased naming c1", err)
	}
	la.Release(reader, "c3") // not the holder: nothing happens
	if h, ok := lb.Holder(reader); !ok || h != "c1" {
		t.Errorf("after a release by a non-holder: holder %q, %v; want c1", h, ok)
	}
	la.ReleaseAll("c1")
	if err := lb.Acquire(reader, "c2"); err != nil {
		t.Errorf("after ReleaseAll: %v", err)
	}
}

// TestKilledHoldersLeaseExpires: a held lease is renewed by the
// heartbeat; when its holder's connection dies without releasing (a
// killed process), the lease expires after the TTL and another station
// may take it.
func TestKilledHoldersLeaseExpires(t *testing.T) {
	a, _, la, lb := servedPair(t, time.Second)
	const res = "hsm:SoftHSM"
	if err := la.Acquire(res, "c1"); err != nil {
		t.Fatal(err)
	}
	la.mu.Lock()
	first := la.held[res].rev
	la.mu.Unlock()
	for deadline := time.Now().Add(liveness); ; time.Sleep(50 * time.Millisecond) {
		e, err := lb.kv.Get(t.Context(), leaseKey(res))
		if err != nil {
			t.Fatalf("the lease vanished while its holder heartbeats: %v", err)
		}
		if e.Revision() > first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the heartbeat did not renew the lease within %v", liveness)
		}
	}

	a.Close() // the holder dies: no release, no more heartbeats
	for deadline := time.Now().Add(liveness); ; time.Sleep(100 * time.Millisecond) {
		err := lb.Acquire(res, "c2")
		if err == nil {
			break
		}
		if !errors.Is(err, engine.ErrLeased) {
			t.Fatalf("acquire while the dead holder's lease runs out: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dead holder's lease did not expire within %v (TTL 1s): %v", liveness, err)
		}
	}
	if h, ok := lb.Holder(res); !ok || h != "c2" {
		t.Errorf("holder %q, %v after the takeover; want c2", h, ok)
	}
}

// TestEmbeddedOpenDropsStaleLeases: leases left in the bucket by a
// process killed with its embedded server are dropped when the next
// process opens the data directory (it holds the lock: nobody else runs).
func TestEmbeddedOpenDropsStaleLeases(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.OpenLeases(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Acquire(engine.RunnerLease("gen-1"), "gen-1"); err != nil {
		t.Fatal(err)
	}
	s.Close() // as if killed: the lease stays in the bucket
	l.Close()

	s2 := openTest(t, dir)
	l2, err := s2.OpenLeases(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if h, ok := l2.Holder(engine.RunnerLease("gen-1")); ok {
		t.Errorf("the killed process's runner lease is still held (by %s) after the store was opened again", h)
	}
	if err := l2.Acquire(engine.RunnerLease("gen-1"), "gen-1"); err != nil {
		t.Errorf("resume's runner lease: %v", err)
	}
	if _, err := s2.OpenLeases(t.Context(), time.Minute); err == nil || !strings.Contains(err.Error(), "TTL") {
		t.Errorf("a lease bucket with another TTL: %v; want a refusal naming the TTL", err)
	}
}

// TestLostLeaseIsReported: a runner lease that was deleted and taken by
// another process, or that could not be renewed for its TTL because the
// bucket was unreachable, is reported lost by Check (engine.ErrLeaseLost,
// saying why); a lease read that fails is an error from Lookup, not "no
// lease".
func TestLostLeaseIsReported(t *testing.T) {
	const ttl = time.Second
	a, _, la, lb := servedPair(t, ttl)
	res := engine.RunnerLease("gen-1")
	if err := la.Acquire(res, "gen-1"); err != nil {
		t.Fatal(err)
	}
	if err := la.Check(res, "gen-1"); err != nil {
		t.Fatalf("Check of a lease held: %v", err)
	}
	if err := lb.Check(res, "gen-1"); err != nil {
		t.Fatalf("Check by a process that never held it: %v", err)
	}
	// Taken: the key is deleted (as when it expires) and B takes it.
	if err := lb.kv.Delete(t.Context(), leaseKey(res)); err != nil {
		t.Fatal(err)
	}
	if err := lb.Acquire(res, "gen-1"); err != nil {
		t.Fatal(err)
	}
	waitLost := func(l *Leases, want string) {
		t.Helper()
		deadline := time.Now().Add(liveness)
		for {
			err := l.Check(res, "gen-1")
			if err != nil {
				if !errors.Is(err, engine.ErrLeaseLost) || !strings.Contains(err.Error(), want) {
					t.Fatalf("Check: %v; want ErrLeaseLost saying %q", err, want)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the lost lease was never reported (liveness bound %v)", liveness)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitLost(la, "taken by another process")
	if h, ok, err := lb.Lookup(res); err != nil || !ok || h != "gen-1" {
		t.Fatalf("Lookup after B took it: %q, %v, %v", h, ok, err)
	}
	// A's release of the lost lease leaves B's alone.
	la.Release(res, "gen-1")
	if h, ok := lb.Holder(res); !ok || h != "gen-1" {
		t.Fatalf("B's lease after A released its lost one: %q, %v", h, ok)
	}
	lb.Release(res, "gen-1")

	// Unreachable: A's connection is gone; after the TTL the lease counts
	// as lost, and a lease read is an error.
	if err := la.Acquire(res, "gen-1"); err != nil {
		t.Fatal(err)
	}
	a.Conn().Close()
	waitLost(la, "not renewed for")
	if _, _, err := la.Lookup(res); err == nil {
		t.Fatal("Lookup on a closed connection: no error; health would call the ceremony orphaned")
	}
}
