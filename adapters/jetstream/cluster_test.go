package jetstream

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream/clustertest"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/storetest"
)

// openCluster opens a store on the cluster through node first (the others'
// URLs follow), with its own stream, and closes it at the end of the test.
func openCluster(t testing.TB, c *clustertest.Cluster, first int, stream string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{Stream: stream, Remote: Remote{URLs: c.URLs(first)}})
	if err != nil {
		t.Fatalf("Open on the cluster through %s: %v", c.Name(first), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestClusterStoreAcceptance runs the store's acceptance suite on a
// 3-node cluster started from testdata/nats-cluster, with R3 streams
// (the default when the client knows of 3 servers).
func TestClusterStoreAcceptance(t *testing.T) {
	c := clustertest.Start(t)
	lastDir := ""
	storetest.Run(t, storetest.Factory{
		Open: func(t *testing.T, dir string) events.Store {
			// The suite's cases run one after the other, each on a new
			// directory (reopened to test a restart). On the cluster a
			// new directory is a new stream; the previous case's stream
			// is deleted first, since streams may not share subjects.
			if dir != lastDir && lastDir != "" {
				c.DeleteStream(streamOf(lastDir))
			}
			lastDir = dir
			s, err := Open(t.Context(), Config{Stream: streamOf(dir), Remote: Remote{URLs: c.URLs(0)}})
			if err != nil {
				t.Fatalf("Open on the cluster: %v", err)
			}
			if s.replicas != 3 {
				t.Errorf("stream replicas %d, want 3", s.replicas)
			}
			return s
		},
		Close: func(t *testing.T, s events.Store) {
			if err := s.(*Store).Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		},
		Follows: true,
	})
}

// streamOf names the stream of a directory of the acceptance suite.
func streamOf(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return "T" + hex.EncodeToString(sum[:6])
}

// appended is the events a test got acknowledgements for.
type appended struct {
	mu   sync.Mutex
	seqs []uint64
	data [][]byte
}

func (a *appended) add(seq uint64, data []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seqs = append(a.seqs, seq)
	a.data = append(a.data, data)
}

// appendNext appends chain's next event of ceremony id through s after
// the last acknowledged one, and records its acknowledgement.
func (a *appended) appendNext(t *testing.T, s *Store, chain *storetest.Chain, id string) {
	t.Helper()
	var last uint64
	a.mu.Lock()
	if n := len(a.seqs); n > 0 {
		last = a.seqs[n-1]
	}
	a.mu.Unlock()
	eventID, data := chain.Next(t)
	seq, err := s.Append(t.Context(), id, eventID, last, data)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	a.add(seq, data)
}

func (a *appended) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.seqs)
}

// checkKept fails unless the ceremony holds exactly the acknowledged
// events, in order, with their sequences and bytes.
func (a *appended) checkKept(t *testing.T, s *Store, ceremonyID string) {
	t.Helper()
	recs, err := s.Load(t.Context(), ceremonyID)
	if err != nil {
		t.Fatalf("Load %s: %v", ceremonyID, err)
	}
	if len(recs) != len(a.seqs) {
		t.Fatalf("ceremony %s holds %d events, %d were acknowledged", ceremonyID, len(recs), len(a.seqs))
	}
	for i, r := range recs {
		if r.Seq != a.seqs[i] || !bytes.Equal(r.Data, a.data[i]) {
			t.Fatalf("event %d: stored sequence %d, acknowledged %d (bytes equal: %v)", i, r.Seq, a.seqs[i], bytes.Equal(r.Data, a.data[i]))
		}
	}
}

// TestClusterStreamLeaderLostMidCeremony: a ceremony appends its events
// one after the other on an R3 stream; the stream leader is stopped after
// 20 acknowledgements, while the appends go on. Every append succeeds
// (the store retries with the same message id through the election), or,
// when the election outlasts its budget, fails saying the outcome is
// unknown and succeeds when resumed; the stream holds exactly the
// acknowledged events, none twice.
func TestClusterStreamLeaderLostMidCeremony(t *testing.T) {
	c := clustertest.Start(t)
	s := openCluster(t, c, 0, "LEADERLOSS")
	leader := c.StreamLeader("LEADERLOSS")

	const id, total, killAt = "cer-leader", 60, 20
	chain := storetest.NewChain(id)
	var acked appended
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for acked.len() < killAt {
			time.Sleep(5 * time.Millisecond)
		}
		c.Stop(leader)
	}()
	var last uint64
	for i := 0; i < total; i++ {
		if i == killAt+5 {
			<-killed // some appends are in flight while it goes down
		}
		eventID, data := chain.Next(t)
		seq, err := s.Append(t.Context(), id, eventID, last, data)
		if err != nil && i >= killAt && strings.Contains(err.Error(), "append outcome unknown") {
			// The handover of a stopping leader can fail under load; an
			// election then takes 4-9 s (raft's election timeout), longer
			// than an append's budget, which must fail fast when there is
			// no quorum. The operator resumes: the same event again, once
			// a leader is elected, is stored at most once.
			t.Logf("append %d of %d failed during the election, resumed after it: %v", i+1, total, err)
			c.StreamLeader("LEADERLOSS")
			seq, err = s.Append(t.Context(), id, eventID, last, data)
		}
		if err != nil {
			t.Fatalf("append %d of %d (leader %s stopped after %d): %v", i+1, total, c.Name(leader), killAt, err)
		}
		acked.add(seq, data)
		last = seq
	}
	newLeader := c.StreamLeader("LEADERLOSS")
	t.Logf("stream leader %s stopped; %s leads now", c.Name(leader), c.Name(newLeader))
	acked.checkKept(t, s, id)

	// The stopped node comes back and catches up; nothing changes.
	c.Start(leader)
	c.StreamLeader("LEADERLOSS")
	acked.checkKept(t, s, id)
}

// TestClusterQuorum: with one of three nodes stopped appends go on; with
// two stopped an append fails, saying the cluster has no quorum, and
// nothing is half-recorded: once the nodes are back, appending the same
// event again stores it once (or finds it stored), and the ceremony holds
// exactly its events.
func TestClusterQuorum(t *testing.T) {
	c := clustertest.Start(t)
	const stream, id = "QUORUM", "cer-quorum"
	s := openCluster(t, c, 0, stream)
	leader := c.StreamLeader(stream)
	chain := storetest.NewChain(id)
	var acked appended
	var last uint64
	appendNext := func() ([]byte, string, error) {
		eventID, data := chain.Next(t)
		seq, err := s.Append(t.Context(), id, eventID, last, data)
		if err == nil {
			acked.add(seq, data)
			last = seq
		}
		return data, eventID, err
	}
	for range 5 {
		if _, _, err := appendNext(); err != nil {
			t.Fatalf("append with every node up: %v", err)
		}
	}

	// One node down, a follower: appends go on.
	down1 := (leader + 1) % 3
	c.Stop(down1)
	for range 5 {
		if _, _, err := appendNext(); err != nil {
			t.Fatalf("append with %s down: %v", c.Name(down1), err)
		}
	}

	// Two down: the leader alone cannot commit.
	down2 := otherThan(leader, down1)
	c.Stop(down2)
	began := time.Now()
	data, eventID, err := appendNext()
	took := time.Since(began)
	if err == nil {
		t.Fatalf("append with %s and %s down succeeded, want a no-quorum error", c.Name(down1), c.Name(down2))
	}
	if !errors.Is(err, ErrOutcomeUnknown) || !strings.Contains(err.Error(), "the cluster has no quorum") {
		t.Fatalf("append with two nodes down: %v; want ErrOutcomeUnknown saying the cluster has no quorum", err)
	}
	t.Logf("with two nodes down the append failed after %s: %v", took.Round(time.Millisecond), err)

	// Back up: the failed append is either whole or absent; appending it
	// again with the same id and expectation leaves it stored once.
	c.Start(down1)
	c.Start(down2)
	c.StreamLeader(stream)
	seq, err := s.Append(t.Context(), id, eventID, last, data)
	if err != nil {
		t.Fatalf("the same append once the nodes are back: %v", err)
	}
	acked.add(seq, data)
	acked.checkKept(t, s, id)
}

// otherThan returns the node index 0-2 that is neither a nor b.
func otherThan(a, b int) int {
	return 3 - a - b
}
