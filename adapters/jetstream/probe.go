package jetstream

import (
	"context"
	"errors"
	"fmt"

	natsjs "github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/semver"
)

// MinServerVersion is the oldest nats-server release we recommend for a
// cluster: the first with the fixes for Jepsen's 2025 findings on lost
// and divergent writes (README.md, "Running on a NATS cluster").
const MinServerVersion = "2.12.3"

// RemoteReport is what ProbeRemote found on an existing NATS server or
// cluster, for 'ceremony config check'.
type RemoteReport struct {
	Server   string // the server that answered
	Version  string // its nats-server version
	Cluster  string // its cluster name, "" when it runs alone
	Servers  int    // the servers the client knows of (the cluster's)
	Stream   string
	Exists   bool   // the stream exists (else the first command creates it)
	Replicas int    // the existing stream's replicas, or those it would get
	Leader   string // the stream leader, on a cluster
	Warnings []string
}

// ProbeRemote connects to the servers of cfg.Remote with its credentials
// and TLS files, checks that JetStream answers for the account and, when
// the stream exists, that its settings are ours (checkStreamConfig). It
// changes nothing: no stream, bucket or consumer is created.
func ProbeRemote(ctx context.Context, cfg Config) (RemoteReport, error) {
	if !cfg.remote() {
		return RemoteReport{}, errors.New("jetstream: probe: no server URL")
	}
	s := &Store{connClosed: make(chan struct{})}
	if err := s.connectRemote(cfg); err != nil {
		return RemoteReport{}, err
	}
	defer s.nc.Close()
	r := RemoteReport{
		Server:  s.nc.ConnectedServerName(),
		Version: s.nc.ConnectedServerVersion(),
		Cluster: s.nc.ConnectedClusterName(),
		Servers: len(s.nc.Servers()),
		Stream:  cfg.streamName(),
	}
	if v := "v" + r.Version; !semver.IsValid(v) || semver.Compare(v, "v"+MinServerVersion) < 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("server %s runs nats-server %s, older than %s: upgrade every node (Jepsen's 2025 findings, fixed in %s)", r.Server, r.Version, MinServerVersion, MinServerVersion))
	}
	js, err := natsjs.New(s.nc)
	if err != nil {
		return r, fmt.Errorf("jetstream: probe %s: %w", r.Server, err)
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		return r, fmt.Errorf("jetstream: server %s: JetStream does not answer for this account: %w (enable JetStream for the account the credentials belong to)", r.Server, err)
	}
	r.Replicas = cfg.Remote.replicasFor(r.Servers)
	st, err := js.Stream(ctx, r.Stream)
	if errors.Is(err, natsjs.ErrStreamNotFound) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("jetstream: look up stream %s: %w", r.Stream, err)
	}
	r.Exists = true
	info := st.CachedInfo()
	if err := checkStreamConfig(info.Config, r.Replicas); err != nil {
		return r, err
	}
	if c := info.Cluster; c != nil {
		r.Leader = c.Leader
		for _, p := range c.Replicas {
			if p.Offline || !p.Current {
				r.Warnings = append(r.Warnings, fmt.Sprintf("stream %s: the replica on %s is %s: the stream runs on fewer copies until it is back", r.Stream, p.Name, replicaState(p)))
			}
		}
	}
	return r, nil
}

// replicaState names what is wrong with a replica.
func replicaState(p *natsjs.PeerInfo) string {
	if p.Offline {
		return "offline"
	}
	return fmt.Sprintf("behind by %d operations", p.Lag)
}
