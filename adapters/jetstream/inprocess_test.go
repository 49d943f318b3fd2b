package jetstream

import (
	"testing"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream/clustertest"
	"github.com/ceremony-hsm/ceremony/events/storetest"
)

// TestClusterAppendWhileTheLastIsApplied: on an R3 stream the leader
// answers 10164 ("wrong last sequence", no sequence) to a write whose
// ceremony has an earlier write still being applied, which happens just
// after that write's acknowledgement too. Here event A is published
// without waiting, and event B, expecting A's sequence, is appended at
// once: B must be stored (read, retried), never reported as a conflict.
func TestClusterAppendWhileTheLastIsApplied(t *testing.T) {
	c := clustertest.Start(t)
	s := openCluster(t, c, 0, "INPROCESS")
	c.StreamLeader("INPROCESS")
	chain := storetest.NewChain("cer-inprocess")
	var last uint64 // the stream holds this ceremony only: sequences are predictable
	for round := range 20 {
		a := request(t, chain, last)
		fut, err := s.js.PublishMsgAsync(&nats.Msg{Subject: a.subject, Data: a.data},
			natsjs.WithMsgID(a.eventID), natsjs.WithExpectLastSequenceForSubject(a.expected, ceremonyFilter(a.ceremonyID)))
		if err != nil {
			t.Fatalf("round %d: publish A: %v", round, err)
		}
		b := request(t, chain, last+1)
		seq, err := s.Append(t.Context(), b.ceremonyID, b.eventID, b.expected, b.data)
		if err != nil {
			t.Fatalf("round %d: append B right after A: %v", round, err)
		}
		select {
		case ack := <-fut.Ok():
			if ack.Sequence != last+1 {
				t.Fatalf("round %d: A stored at %d, want %d", round, ack.Sequence, last+1)
			}
		case err := <-fut.Err():
			t.Fatalf("round %d: A: %v", round, err)
		}
		if seq != last+2 {
			t.Fatalf("round %d: B stored at %d, want %d", round, seq, last+2)
		}
		last = seq
	}
}
