package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/adapters/jetstream/clustertest"
	"github.com/ceremony-hsm/ceremony/events"
)

// TestNATSClusterDamagedReplica records a ceremony on a 3-node cluster,
// then damages one node's copy of the stream while it is stopped, as
// nats-server 2.15 really answers it (README.md, "Running on a NATS
// cluster"):
//
//   - the stream leader's first message block cut in half: the node comes
//     back as a follower that counts the lost events as deleted and never
//     fetches them (the stream info still calls it current); verify-store
//     names it DAMAGED with what to do (exit 6), health makes it a
//     critical finding, and every acknowledged event is still read from
//     its peers; the advice (its copy moved aside, the node started) heals
//     it, and with it as the stream leader every event reads as before;
//   - a follower's block with a flipped byte: the server cuts the block at
//     the bad record at its restart and copies the rest from its peers by
//     itself; verify-store reports it behind (a warning) or whole, never
//     damaged, and once it is whole, with it as the leader, every event
//     reads as before.
func TestNATSClusterDamagedReplica(t *testing.T) {
	c := clustertest.Start(t)
	s := newSite(t)
	nodes := []string{"--nats", strings.Join(c.URLs(0), ",")}
	sys := append(slices.Clone(nodes), "--nats-system-nkey", c.SystemNkeyFile())

	if code, out := runBare(t, s, append([]string{"demo"}, nodes...)...); code != exitOK {
		t.Fatalf("demo on the cluster: exit %d\n%s", code, out)
	}
	before := streamDigests(t, c, 0)
	t.Logf("%d events acknowledged", len(before))
	if code, out := runBare(t, s, append([]string{"audit", "verify-store"}, nodes...)...); code != exitOK || !strings.Contains(out, "were not checked") {
		t.Fatalf("verify-store --nats without a system user: exit %d, want 0 and a note that the replicas were not checked\n%s", code, out)
	}
	code, out := runBare(t, s, append([]string{"audit", "verify-store"}, sys...)...)
	if code != exitOK {
		t.Fatalf("verify-store on the whole cluster: exit %d\n%s", code, out)
	}
	for i := range c.Len() {
		if want := fmt.Sprintf("%s: holds every event 1-%d", c.Name(i), len(before)); !strings.Contains(out, want) && !strings.Contains(out, strings.Replace(want, ":", " (leader):", 1)) {
			t.Fatalf("verify-store on the whole cluster does not say %q\n%s", want, out)
		}
	}

	// The leader's files: its first block cut in half while it is down.
	victim := c.StreamLeader(jetstream.DefaultStream)
	name := c.Name(victim)
	c.Stop(victim)
	blk := firstBlock(t, c, victim)
	data := readFile(t, blk)
	if err := os.WriteFile(blk, data[:len(data)/2], 0o640); err != nil {
		t.Fatal(err)
	}
	c.Start(victim)
	c.StreamLeader(jetstream.DefaultStream)
	peers := []string{"--nats", strings.Join(slices.DeleteFunc(c.URLs(victim), func(u string) bool { return u == c.URL(victim) }), ","), "--nats-system-nkey", c.SystemNkeyFile()}
	code, out = runBare(t, s, append([]string{"audit", "verify-store"}, peers...)...)
	if code != exitAltered || !strings.Contains(out, name+": DAMAGED: holds ") || !strings.Contains(out, "the stream never deletes") ||
		!strings.Contains(out, "stop "+name+", move its copy of the stream (jetstream/$G/streams/CEREMONIES in its store_dir) aside") ||
		!strings.Contains(out, "the copy of stream CEREMONIES on "+name+" is damaged") ||
		!strings.Contains(out, fmt.Sprintf("OK: %d events", len(before))) {
		t.Fatalf("verify-store through the peers of %s, whose first block was cut: exit %d, want %d naming it damaged and what to do, every event read\n%s", name, code, exitAltered, out)
	}
	for i := range c.Len() {
		if i == victim {
			continue
		}
		if after, err := readStream(t, c.URL(i)); err != nil || !slices.Equal(after, before) {
			t.Fatalf("events read through %s, a peer of the damaged %s: %v\n%v\nwant the acknowledged:\n%v", c.Name(i), name, err, after, before)
		}
	}
	// A ceremony's read may run on the damaged copy too (a ceremony of
	// more than 64 events is read by a reader after its first event):
	// it then takes the rest from the leader. Each read through each
	// node gives the acknowledged events.
	for i := range c.Len() {
		for range 2 {
			if got := ceremonyDigests(t, c.URL(i), before); !slices.Equal(got, before) {
				t.Fatalf("ceremonies loaded through %s with %s damaged:\n%v\nwant the acknowledged:\n%v", c.Name(i), name, got, before)
			}
		}
	}
	// Through the damaged node, JetStream may run the reader on its copy
	// (it places an ordered consumer on the client's server when that
	// holds a replica): the read then fails naming it, never a short
	// history.
	after, err := readStream(t, c.URL(victim))
	switch {
	case err == nil && slices.Equal(after, before):
		t.Logf("read through the damaged %s: every event (the reader ran on a peer)", name)
	case errors.Is(err, jetstream.ErrReplicaDamaged) && strings.Contains(err.Error(), "server "+name):
		t.Logf("read through the damaged %s: %v", name, err)
	default:
		t.Fatalf("read through the damaged %s: error %v, events:\n%v\nwant every acknowledged event or an error naming its copy:\n%v", name, err, after, before)
	}
	code, out = runBare(t, s, append([]string{"health"}, peers...)...)
	if code != exitCritical || !strings.Contains(out, "stream CEREMONIES on "+name) || !strings.Contains(out, "missing") {
		t.Fatalf("health with %s damaged: exit %d, want %d naming it\n%s", name, code, exitCritical, out)
	}

	// What verify-store said to do: its copy moved aside, the node started.
	c.Stop(victim)
	if err := os.Rename(filepath.Dir(filepath.Dir(blk)), filepath.Join(t.TempDir(), "CEREMONIES.damaged")); err != nil {
		t.Fatal(err)
	}
	c.Start(victim)
	waitWholeReplicas(t, c, len(before))
	leadBy(t, c, victim)
	if after := streamDigests(t, c, victim); !slices.Equal(after, before) {
		t.Fatalf("events read with the mended %s as the stream leader:\n%v\nwant the acknowledged:\n%v", name, after, before)
	}

	// A follower's block: one byte flipped in the middle.
	victim = (victim + 1) % c.Len()
	name = c.Name(victim)
	c.Stop(victim)
	blk = firstBlock(t, c, victim)
	data = readFile(t, blk)
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(blk, data, 0o640); err != nil {
		t.Fatal(err)
	}
	c.Start(victim)
	c.StreamLeader(jetstream.DefaultStream)
	code, out = runBare(t, s, append([]string{"audit", "verify-store"}, sys...)...)
	whole := strings.Contains(out, fmt.Sprintf("%s: holds every event 1-%d", name, len(before)))
	behind := strings.Contains(out, name+": WARNING: holds events") && strings.Contains(out, "it is behind")
	if code != exitOK || !whole && !behind {
		t.Fatalf("verify-store with a byte of %s flipped: exit %d, want 0 saying it is behind or whole\n%s", name, code, out)
	}
	t.Logf("right after the restart, verify-store said %s is behind: %v", name, behind)
	waitWholeReplicas(t, c, len(before))
	leadBy(t, c, victim)
	// Whether the server noticed the flipped record at the restart (then
	// it cut the block and copied the rest from its peers) or not (then
	// JSZ counts the record and a read of it finds no message), a read
	// with it as the leader gives every event or names the one missing.
	after, err = readStream(t, c.URL(victim))
	switch {
	case err == nil && slices.Equal(after, before):
		t.Logf("with %s leading after its byte flip: every event", name)
	case errors.Is(err, jetstream.ErrReplicaDamaged) && strings.Contains(err.Error(), "the stream leader's copy of stream CEREMONIES has no event"):
		t.Logf("with %s leading after its byte flip: %v", name, err)
	default:
		t.Fatalf("events read with %s, whose byte was flipped, as the stream leader: error %v\n%v\nwant every acknowledged event or an error naming the missing one:\n%v", name, err, after, before)
	}
}

// firstBlock returns node i's first message block of the event stream.
func firstBlock(t *testing.T, c *clustertest.Cluster, i int) string {
	t.Helper()
	blk := filepath.Join(c.StoreDir(i), "jetstream", "$G", "streams", jetstream.DefaultStream, "msgs", "1.blk")
	if _, err := os.Stat(blk); err != nil {
		t.Fatalf("node %s's first block: %v", c.Name(i), err)
	}
	return blk
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// streamDigests returns every stored event (sequence, ceremony, type and
// a digest of the bytes), read through node i, checking each ceremony's
// chain.
func streamDigests(t *testing.T, c *clustertest.Cluster, i int) []string {
	t.Helper()
	out, err := readStream(t, c.URL(i))
	if err != nil {
		t.Fatalf("read through %s: %v", c.Name(i), err)
	}
	return out
}

// readStream reads every stored event (see streamDigests) through url.
func readStream(t *testing.T, url string) ([]string, error) {
	t.Helper()
	st, err := jetstream.Open(t.Context(), jetstream.Config{Remote: jetstream.Remote{URLs: []string{url}}})
	if err != nil {
		return nil, fmt.Errorf("open the store: %w", err)
	}
	defer st.Close()
	var out []string
	chains := map[string][]events.Envelope{}
	err = st.Replay(t.Context(), 1, func(r events.Record) error {
		out = append(out, fmt.Sprintf("%d %s %s %x", r.Seq, r.CeremonyID, r.Type, sha256.Sum256(r.Data)))
		chains[r.CeremonyID] = append(chains[r.CeremonyID], r.Envelope)
		return nil
	})
	if err != nil {
		return out, err
	}
	for id, envs := range chains {
		if err := events.VerifyChain(envs); err != nil {
			return out, fmt.Errorf("chain of %s: %w", id, err)
		}
	}
	return out, nil
}

// ceremonyDigests loads, through url, each ceremony that events (as
// streamDigests gives them) name, and returns their events in stream
// order, as streamDigests would.
func ceremonyDigests(t *testing.T, url string, evs []string) []string {
	t.Helper()
	st, err := jetstream.Open(t.Context(), jetstream.Config{Remote: jetstream.Remote{URLs: []string{url}}})
	if err != nil {
		t.Fatalf("open the store through %s: %v", url, err)
	}
	defer st.Close()
	var ids []string
	for _, e := range evs {
		if id := strings.Fields(e)[1]; !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	var out []string
	for _, id := range ids {
		recs, err := st.Load(t.Context(), id)
		if err != nil {
			t.Fatalf("load %s through %s: %v", id, url, err)
		}
		for _, r := range recs {
			out = append(out, fmt.Sprintf("%d %s %s %x", r.Seq, r.CeremonyID, r.Type, sha256.Sum256(r.Data)))
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		var x, y uint64
		fmt.Sscan(a, &x)
		fmt.Sscan(b, &y)
		return int(x) - int(y)
	})
	return out
}

// waitWholeReplicas waits until every replica of the event stream holds
// the n events, as each server says.
func waitWholeReplicas(t *testing.T, c *clustertest.Cluster, n int) {
	t.Helper()
	st, err := jetstream.Open(t.Context(), jetstream.Config{Remote: jetstream.Remote{URLs: c.URLs(0)}})
	if err != nil {
		t.Fatalf("open the store on the cluster: %v", err)
	}
	defer st.Close()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		rs, err := st.Replicas(t.Context(), jetstream.Remote{URLs: c.URLs(0)}, c.SystemNkeyFile())
		whole := err == nil && len(rs) == c.Len()
		for _, r := range rs {
			whole = whole && r.OK() && r.Msgs == uint64(n)
		}
		if whole {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replicas do not hold the %d events after 2 minutes: %+v (%v)", n, rs, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// leadBy makes node i the event stream's leader (a leader step-down with
// i preferred, JetStream API), so that reads are answered from its copy.
func leadBy(t *testing.T, c *clustertest.Cluster, i int) {
	t.Helper()
	nc, err := nats.Connect(strings.Join(c.URLs(i), ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req, _ := json.Marshal(map[string]any{"placement": map[string]string{"preferred": c.Name(i)}})
	for attempt := 1; c.StreamLeader(jetstream.DefaultStream) != i; attempt++ {
		if attempt > 10 {
			t.Fatalf("%s does not become the stream leader", c.Name(i))
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		msg, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.LEADER.STEPDOWN."+jetstream.DefaultStream, req)
		cancel()
		if err != nil {
			t.Logf("step-down towards %s: %v", c.Name(i), err)
			continue
		}
		t.Logf("step-down towards %s: %s", c.Name(i), msg.Data)
	}
}
