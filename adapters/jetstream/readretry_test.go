package jetstream

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream/clustertest"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/storetest"
)

// retried is a store's read-retry hook: closed at the first retry.
func retried(s *Store) <-chan struct{} {
	ch := make(chan struct{})
	var once sync.Once
	s.readRetried = func(error) { once.Do(func() { close(ch) }) }
	return ch
}

// sameEvents fails unless recs are the acknowledged events, in order.
func sameEvents(t *testing.T, what string, recs []events.Record, acked *appended) {
	t.Helper()
	if len(recs) != len(acked.seqs) {
		t.Fatalf("%s: %d events, %d were acknowledged", what, len(recs), len(acked.seqs))
	}
	for i, r := range recs {
		if r.Seq != acked.seqs[i] || !bytes.Equal(r.Data, acked.data[i]) {
			t.Fatalf("%s: event %d is sequence %d, acknowledged %d", what, i, r.Seq, acked.seqs[i])
		}
	}
}

// TestClusterReadsWaitForAnElection: with two of three nodes stopped the
// stream has no leader; a Load, a Replay and a Follow begun then do not
// fail: they retry until a node is back and a leader is elected, and
// deliver every acknowledged event once. Then the stream leader is
// stopped while a reader reads in a loop: every read succeeds.
func TestClusterReadsWaitForAnElection(t *testing.T) {
	c := clustertest.Start(t)
	const stream, id = "READS", "cer-reads"
	writer := openCluster(t, c, 0, stream)
	loader, replayer, follower := openCluster(t, c, 0, stream), openCluster(t, c, 0, stream), openCluster(t, c, 0, stream)
	gaveUp := openCluster(t, c, 0, stream)
	c.StreamLeader(stream)
	chain := storetest.NewChain(id)
	var acked appended
	appendNext := func() { t.Helper(); acked.appendNext(t, writer, chain, id) }
	for range 30 {
		appendNext()
	}

	// No quorum: nodes 1 and 2 stopped; the clients stay on node 0.
	c.Stop(1)
	c.Stop(2)
	// Bounded: a read gives up, saying why, once its budget is spent.
	// Until node 0 notices it lost its quorum it may still be the stream's
	// leader and answer reads of what it holds (every acknowledged event):
	// wait until it has stepped down (a liveness bound, not a speed). A
	// read that failed before then may have been only slow (routes going
	// down), and the next one answered by the old leader.
	c.WaitStepDown(0, stream)
	gaveUp.readBudget = 300 * time.Millisecond
	_, err := gaveUp.Load(t.Context(), id)
	if err == nil || !strings.Contains(err.Error(), "the cluster has no quorum for stream READS") {
		t.Fatalf("a load without a leader past its budget: %v, want an error saying the cluster has no quorum", err)
	}
	// The reads below wait for a node to start and a leader to be
	// elected, which a loaded test machine (the race detector) can make
	// longer than the budget of 15 s.
	for _, s := range []*Store{loader, replayer, follower} {
		s.readBudget = 5 * time.Minute
	}
	loadRetried, replayRetried, followRetried := retried(loader), retried(replayer), retried(follower)
	type result struct {
		recs []events.Record
		err  error
	}
	loaded, replayed := make(chan result, 1), make(chan result, 1)
	go func() {
		recs, err := loader.Load(t.Context(), id)
		loaded <- result{recs, err}
	}()
	go func() {
		var recs []events.Record
		err := replayer.Replay(t.Context(), 1, func(r events.Record) error { recs = append(recs, r); return nil })
		replayed <- result{recs, err}
	}()
	followed := make(chan events.Record, 100)
	fctx, stopFollow := context.WithCancel(t.Context())
	followDone := make(chan error, 1)
	go func() {
		followDone <- follower.Follow(fctx, 1, func(r events.Record) error { followed <- r; return nil })
	}()
	followEnded := false // followDone was received
	defer func() {
		stopFollow()
		if !followEnded {
			<-followDone
		}
	}()
	for what, ch := range map[string]<-chan struct{}{"load": loadRetried, "replay": replayRetried, "follow": followRetried} {
		select {
		case <-ch:
		case r := <-loaded:
			t.Fatalf("%s: the load ended without a leader instead of retrying: %d events, %v", what, len(r.recs), r.err)
		case r := <-replayed:
			t.Fatalf("%s: the replay ended without a leader instead of retrying: %d events, %v", what, len(r.recs), r.err)
		case err := <-followDone:
			followEnded = true
			t.Fatalf("%s: the follow ended without a leader instead of retrying: %v", what, err)
		}
	}

	// A node back: a leader is elected, the reads finish.
	c.Start(1)
	r := <-loaded
	if r.err != nil {
		t.Fatalf("load through the election: %v", r.err)
	}
	sameEvents(t, "load", r.recs, &acked)
	r = <-replayed
	if r.err != nil {
		t.Fatalf("replay through the election: %v", r.err)
	}
	sameEvents(t, "replay", r.recs, &acked)
	c.StreamLeader(stream)
	appendNext()
	var got []events.Record
	for len(got) < len(acked.seqs) {
		select {
		case rec := <-followed:
			got = append(got, rec)
		case err := <-followDone:
			followEnded = true
			t.Fatalf("follow through the election ended after %d events: %v", len(got), err)
		}
	}
	sameEvents(t, "follow", got, &acked)

	// The stream leader stopped while a reader loads again and again.
	c.Start(2)
	leader := c.StreamLeader(stream)
	var stopped atomic.Bool
	var after atomic.Int32
	readErr := make(chan error, 1)
	go func() {
		for after.Load() < 3 {
			wasStopped := stopped.Load()
			recs, err := loader.Load(t.Context(), id)
			if err == nil && len(recs) != len(acked.seqs) {
				err = fmt.Errorf("%d events, want %d", len(recs), len(acked.seqs))
			}
			if err != nil {
				readErr <- err
				return
			}
			if wasStopped {
				after.Add(1)
			}
		}
		readErr <- nil
	}()
	c.Stop(leader)
	stopped.Store(true)
	if err := <-readErr; err != nil {
		t.Fatalf("a load while stream leader %s stopped: %v", c.Name(leader), err)
	}
}

// TestClusterOpenWaitsForAnElection: a store opened while the stream has
// no leader (two of three nodes stopped, the third stepped down) does
// not fail: its stream lookup is retried like the reads until a node is
// back and a leader is elected, then the store reads every acknowledged
// event. (A follower may answer the lookup first; without the retry the
// lookup failed with "context deadline exceeded".)
func TestClusterOpenWaitsForAnElection(t *testing.T) {
	c := clustertest.Start(t)
	const stream, id = "OPENS", "cer-opens"
	writer, gaveUp := openCluster(t, c, 0, stream), openCluster(t, c, 0, stream)
	c.StreamLeader(stream)
	chain := storetest.NewChain(id)
	var acked appended
	for range 5 {
		acked.appendNext(t, writer, chain, id)
	}
	c.Stop(1)
	c.Stop(2)
	// Wait for node 0 to step down (as in TestClusterReadsWaitForAnElection).
	c.WaitStepDown(0, stream)
	gaveUp.readBudget = 300 * time.Millisecond
	_, err := gaveUp.Load(t.Context(), id)
	if err == nil || !strings.Contains(err.Error(), "the cluster has no quorum for stream "+stream) {
		t.Fatalf("a load without a leader past its budget: %v, want an error saying the cluster has no quorum", err)
	}
	opened := make(chan error, 1)
	go func() {
		s, err := Open(t.Context(), Config{Stream: stream, Remote: Remote{URLs: c.URLs(0)}, readBudget: 5 * time.Minute})
		if err == nil {
			var recs []events.Record
			if recs, err = s.Load(t.Context(), id); err == nil && len(recs) != len(acked.seqs) {
				err = fmt.Errorf("the store opened during the election loads %d events, want %d", len(recs), len(acked.seqs))
			}
			s.Close()
		}
		opened <- err
	}()
	c.Start(1)
	if err := <-opened; err != nil {
		t.Fatalf("open during the election: %v", err)
	}
	c.StreamLeader(stream) // the restarted node has caught up before the cluster stops
}
