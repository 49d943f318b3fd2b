package main

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/adapters/jetstream/clustertest"
	"github.com/ceremony-hsm/ceremony/events"
)

// TestNATSClusterGenerateOnALoadOnB runs on a 3-node cluster started from
// testdata/nats-cluster: a generate through node A, whose stream leader is
// stopped in the middle of the ceremony; the ceremony finishes after the
// re-election, and every event acknowledged before the stop is still
// there. Then a load of two of the same cards through node B: the cards
// are accepted as the cluster's key set. 'ceremony demo --nats' runs
// against the same cluster.
func TestNATSClusterGenerateOnALoadOnB(t *testing.T) {
	c := clustertest.Start(t)
	s := newSite(t)
	nodeA, nodeB := []string{"--nats", c.URL(0)}, []string{"--nats", c.URL(1)}

	gen := s.startBare(append([]string{"generate", "--operator", "alice", "--quorum", "2-of-3", "--id", "gen-cl", "--cards-dir", s.cardsDir}, nodeA...)...)
	gen.send("")
	gen.send(cardTurn("card1")...)
	gen.waitFor(t, "Share 1 written")

	leader := c.StreamLeader(jetstream.DefaultStream)
	if r := c.Replicas(jetstream.DefaultStream); r != 3 {
		t.Fatalf("the stream created through node A alone has %d replicas, want 3 (the cluster's size)", r)
	}
	before := clusterEvents(t, c, 1, "gen-cl")
	if !slices.ContainsFunc(before, func(e string) bool { return strings.Contains(e, "backupkey.share_written") }) {
		t.Fatalf("events through node B before the stop: %v; want share 1 written", before)
	}
	c.Stop(leader)
	t.Logf("stream leader %s stopped after %d events", c.Name(leader), len(before))

	for _, card := range []string{"card2", "card3"} {
		gen.send(cardTurn(card)...)
	}
	gen.send("")
	gen.send("", "", testPINs["card3"])
	gen.send(cardTurn("card1")...)
	if code := gen.exit(t); code != exitOK {
		t.Fatalf("generate through node A after the stream leader stopped: exit %d\n%s", code, gen.output())
	}
	c.Start(leader)
	c.StreamLeader(jetstream.DefaultStream)

	after := clusterEvents(t, c, 1, "gen-cl")
	if len(after) <= len(before) || !slices.Equal(after[:len(before)], before) {
		t.Fatalf("events acknowledged before the stop:\n%v\nafter the ceremony:\n%v", before, after)
	}
	if code, out := runBare(t, s, append([]string{"audit", "verify-store"}, nodeB...)...); code != exitOK {
		t.Fatalf("verify-store through node B: exit %d\n%s", code, out)
	}

	load := s.startBare(append([]string{"load", "--operator", "bob", "--id", "load-cl", "--cards-dir", s.cardsDir}, nodeB...)...)
	load.send("")
	load.send(cardTurn("card2")...)
	load.send(cardTurn("card3")...)
	if code := load.exit(t); code != exitOK || strings.Contains(load.output(), "foreign") {
		t.Fatalf("load of the same cards through node B: exit %d\n%s", code, load.output())
	}
	code, out := runBare(t, s, append([]string{"cards"}, nodeB...)...)
	if code != exitOK || strings.Count(out, "FFFE0000400") != 3 {
		t.Fatalf("cards through node B: exit %d\n%s", code, out)
	}

	demo := s.startBare("demo", "--nats", strings.Join(c.URLs(2), ","))
	if code := demo.exit(t); code != exitOK || !strings.Contains(demo.output(), "the NATS servers") {
		t.Fatalf("demo --nats: exit %d\n%s", code, demo.output())
	}
	code, out = runBare(t, s, append([]string{"list"}, nodeA...)...)
	if code != exitOK || !strings.Contains(out, "gen-cl") || !strings.Contains(out, "load-cl") || strings.Count(out, "gen-") < 2 {
		t.Fatalf("list through node A after the demo: exit %d\n%s", code, out)
	}
	// No secret of the site's cards reached any node's files or the output.
	for i := range c.Len() {
		s.mu.Lock()
		outs := map[string][]byte{"command output": append([]byte(nil), s.outputs.Bytes()...)}
		s.mu.Unlock()
		scan(t, cardSecrets(t, s.cardsDir, testPINs), c.StoreDir(i), outs)
	}
}

// runBare runs a command to its end, with args as they are.
func runBare(t *testing.T, s *site, args ...string) (int, string) {
	t.Helper()
	p := s.startBare(args...)
	code := p.exit(t)
	return code, p.output()
}

// clusterEvents returns the stored events of ceremony id (sequence, type
// and a digest of the bytes), read through node i, checking its chain.
func clusterEvents(t *testing.T, c *clustertest.Cluster, i int, id string) []string {
	t.Helper()
	st, err := jetstream.Open(t.Context(), jetstream.Config{Remote: jetstream.Remote{URLs: []string{c.URL(i)}}})
	if err != nil {
		t.Fatalf("open the store through %s: %v", c.Name(i), err)
	}
	defer st.Close()
	recs, err := st.Load(t.Context(), id)
	if err != nil {
		t.Fatalf("load %s through %s: %v", id, c.Name(i), err)
	}
	var out []string
	var envs []events.Envelope
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%d %s %x", r.Seq, r.Type, sha256.Sum256(r.Data)))
		envs = append(envs, r.Envelope)
	}
	if err := events.VerifyChain(envs); err != nil {
		t.Fatalf("chain of %s: %v", id, err)
	}
	return out
}
