package jetstream

import (
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream/clustertest"
)

// TestProbeRemoteOnACluster: before the stream exists the probe says what
// it would create (3 replicas on 3 servers) and creates nothing; once it
// exists its settings are ours and its leader is named; with a node
// stopped the replica there is reported offline, as a warning.
func TestProbeRemoteOnACluster(t *testing.T) {
	c := clustertest.Start(t)
	const stream = "PROBED"
	cfg := Config{Stream: stream, Remote: Remote{URLs: c.URLs(0)}}
	r, err := ProbeRemote(t.Context(), cfg)
	if err != nil || r.Exists || r.Replicas != 3 || r.Servers != 3 || r.Cluster != "ceremony" || len(r.Warnings) != 0 {
		t.Fatalf("probe before the stream exists: %+v, %v", r, err)
	}
	if r, err = ProbeRemote(t.Context(), cfg); err != nil || r.Exists {
		t.Fatalf("the first probe created the stream: %+v, %v", r, err)
	}
	openCluster(t, c, 0, stream)
	leader := c.StreamLeader(stream)
	if r, err = ProbeRemote(t.Context(), cfg); err != nil || !r.Exists || r.Leader != c.Name(leader) || len(r.Warnings) != 0 {
		t.Fatalf("probe of the stream: %+v, %v", r, err)
	}
	follower := (leader + 1) % 3
	c.Stop(follower)
	cfg.Remote.URLs = c.URLs((follower + 1) % 3)
	// The leader notices the lost peer after a while: a liveness bound.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if r, err = ProbeRemote(t.Context(), cfg); err == nil && len(r.Warnings) > 0 {
			break
		}
	}
	want := "the replica on " + c.Name(follower) + " is offline"
	if err != nil || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], want) {
		t.Fatalf("probe with %s stopped: %+v, %v; want a warning %q", c.Name(follower), r, err, want)
	}
}
