// Package clustertest starts a real 3-node NATS cluster in the test's
// process, from the example configuration in testdata/nats-cluster
// (README.md, "Running on a NATS cluster"), for the tests of the event
// store on a cluster.
//
// Each node is a nats-server/v2 server configured by its file (server_name,
// JetStream with sync_interval always, cluster name and routes); the
// harness replaces only what must differ on a shared test machine: the
// client and route ports (free loopback ports) and the store directory (a
// directory of the test). A node can be stopped and started again on the
// same ports and store directory.
//
// Every node also gets a user of the system account, authenticated by an
// nkey made for the test (SystemNkeyFile), as an operator would give one
// for monitoring: "accounts { SYS: { users: [ { nkey: U... } ] } },
// system_account: SYS" in each file. Clients without credentials still
// land in the global account, as without it (the server adds a no-auth
// user for it when only the system account is defined).
package clustertest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// readyTimeout bounds a node's start and the wait for a leader. It is
// generous because a 2-core CI machine running the suite under -race can
// take over 30 s to start a node; a healthy start takes well under a second.
const readyTimeout = 120 * time.Second

// ConfigDir returns the directory of the example cluster configuration,
// testdata/nats-cluster at the repository's root.
func ConfigDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "nats-cluster")
}

// Cluster is a running test cluster. Its methods fail the test on error.
type Cluster struct {
	t       testing.TB
	mu      sync.Mutex
	nodes   []*node
	sysSeed string // the system account user's nkey seed file
}

type node struct {
	name string
	opts *server.Options // ports fixed after the first start
	srv  *server.Server  // nil when stopped
}

// Start starts the nodes of the node-*.conf files of ConfigDir and waits
// until the cluster has a JetStream meta leader. Every node is shut down
// at the end of the test.
//
// Ports are picked free a moment before the servers bind them, so another
// process (a test package running in parallel) can take one in between;
// a node that does not come up is then started again, with the whole
// cluster on fresh ports and store directories, up to startAttempts
// times.
func Start(t testing.TB) *Cluster {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(ConfigDir(), "node-*.conf"))
	if err != nil || len(files) < 3 {
		t.Fatalf("clustertest: want 3 node configs in %s, found %d (%v)", ConfigDir(), len(files), err)
	}
	slices.Sort(files)
	c := &Cluster{t: t}
	t.Cleanup(c.shutdown)
	sysPub := ""
	c.sysSeed, sysPub = systemUser(t)
	var failed []string
	for attempt := 1; ; attempt++ {
		c.nodes = configure(t, files, sysPub)
		err := c.startAll()
		if err == nil {
			break
		}
		failed = append(failed, err.Error())
		c.shutdown()
		if attempt == startAttempts {
			t.Fatalf("clustertest: the cluster did not start in %d attempts: %s", startAttempts, strings.Join(failed, "; "))
		}
	}
	c.waitMetaLeader()
	c.waitPlacement()
	return c
}

// waitPlacement waits until the meta leader can place a stream on every
// node: it knows a peer as offline until that peer's first state update
// (through the system account) arrives, which can come after the meta
// leader answers. A probe stream of one replica per node is created and
// deleted.
func (c *Cluster) waitPlacement() {
	c.t.Helper()
	nc, js := c.connect()
	defer nc.Close()
	deadline := time.Now().Add(readyTimeout)
	cfg := natsjs.StreamConfig{Name: "CLUSTERTEST_PROBE", Subjects: []string{"clustertest.probe"}, Storage: natsjs.MemoryStorage, Replicas: len(c.nodes)}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.CreateStream(ctx, cfg)
		if err == nil {
			err = js.DeleteStream(ctx, cfg.Name)
		}
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("clustertest: a stream of %d replicas cannot be placed after %s: %v", len(c.nodes), readyTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startAttempts bounds the starts of a new cluster (see Start).
const startAttempts = 3

// firstStartTimeout bounds a node's first start; a node that is not
// ready by then most likely lost one of its ports (see Start).
const firstStartTimeout = 40 * time.Second

// systemUser makes the nkey of the system account's user and writes its
// seed to a file of mode 0600, returning the file and the public key.
func systemUser(t testing.TB) (seedFile, pub string) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatalf("clustertest: make the system user's nkey: %v", err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatalf("clustertest: system user's seed: %v", err)
	}
	if pub, err = kp.PublicKey(); err != nil {
		t.Fatalf("clustertest: system user's public key: %v", err)
	}
	seedFile = filepath.Join(t.TempDir(), "system-user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatalf("clustertest: write the system user's seed: %v", err)
	}
	return seedFile, pub
}

// SystemNkeyFile returns the nkey seed file (mode 0600) of the system
// account's user, for the servers' monitoring requests ($SYS.REQ.>).
func (c *Cluster) SystemNkeyFile() string { return c.sysSeed }

// configure reads the node files and gives every node free loopback
// ports, the routes to match, a store directory of its own, and the
// system account's user sysPub.
func configure(t testing.TB, files []string, sysPub string) []*node {
	var nodes []*node
	routePorts := map[int]int{} // port in the file -> free port
	for _, f := range files {
		opts, err := server.ProcessConfigFile(f)
		if err != nil {
			t.Fatalf("clustertest: %s: %v", f, err)
		}
		if opts.ServerName == "" || !opts.JetStream || !opts.SyncAlways || opts.Cluster.Name == "" {
			t.Fatalf("clustertest: %s: want server_name, jetstream with sync_interval always and a cluster name", f)
		}
		routePorts[opts.Cluster.Port] = freePort(t)
		opts.Port = freePort(t)
		opts.Cluster.Port = routePorts[opts.Cluster.Port]
		opts.StoreDir = filepath.Join(t.TempDir(), opts.ServerName)
		opts.NoSigs, opts.NoLog = true, true
		sys := server.NewAccount("SYS")
		opts.Accounts = append(opts.Accounts, sys)
		opts.SystemAccount = sys.Name
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: sysPub, Account: sys})
		nodes = append(nodes, &node{name: opts.ServerName, opts: opts})
	}
	for _, n := range nodes {
		for _, r := range n.opts.Routes {
			port, _ := strconv.Atoi(r.Port())
			free, ok := routePorts[port]
			if !ok {
				t.Fatalf("clustertest: node %s routes to %s, which is no node's cluster port", n.name, r)
			}
			r.Host = net.JoinHostPort(r.Hostname(), strconv.Itoa(free))
		}
	}
	return nodes
}

// startAll starts every node of a new cluster.
func (c *Cluster) startAll() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		srv, err := server.NewServer(n.opts.Clone())
		if err != nil {
			c.t.Fatalf("clustertest: configure node %s: %v", n.name, err)
		}
		srv.Start()
		if !srv.ReadyForConnections(firstStartTimeout) {
			srv.Shutdown()
			return fmt.Errorf("node %s (client port %d, cluster port %d) not ready after %s", n.name, n.opts.Port, n.opts.Cluster.Port, firstStartTimeout)
		}
		n.srv = srv
	}
	return nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("clustertest: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Len is the number of nodes.
func (c *Cluster) Len() int { return len(c.nodes) }

// Name returns node i's server_name.
func (c *Cluster) Name(i int) string { return c.nodes[i].name }

// URL returns node i's client URL.
func (c *Cluster) URL(i int) string {
	return fmt.Sprintf("nats://127.0.0.1:%d", c.nodes[i].opts.Port)
}

// URLs returns every node's client URL, node i's first.
func (c *Cluster) URLs(first int) []string {
	urls := []string{c.URL(first)}
	for i := range c.nodes {
		if i != first {
			urls = append(urls, c.URL(i))
		}
	}
	return urls
}

// Start starts node i (again), on its ports and store directory.
func (c *Cluster) Start(i int) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	if n.srv != nil {
		c.t.Fatalf("clustertest: node %s is already running", n.name)
	}
	opts := n.opts.Clone()
	srv, err := server.NewServer(opts)
	if err != nil {
		c.t.Fatalf("clustertest: configure node %s: %v", n.name, err)
	}
	srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		c.t.Fatalf("clustertest: node %s not ready after %s", n.name, readyTimeout)
	}
	n.srv = srv
}

// Stop shuts node i down (as on SIGTERM: its raft leaderships are handed
// over first) and waits until it is down.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	if n.srv == nil {
		return
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
}

func (c *Cluster) shutdown() {
	for i := range c.nodes {
		c.Stop(i)
	}
}

// Index returns the index of the node named name, or -1.
func (c *Cluster) Index(name string) int {
	return slices.IndexFunc(c.nodes, func(n *node) bool { return n.name == name })
}

// connect connects to the running nodes.
func (c *Cluster) connect() (*nats.Conn, natsjs.JetStream) {
	c.t.Helper()
	var urls []string
	c.mu.Lock()
	for i, n := range c.nodes {
		if n.srv != nil {
			urls = append(urls, c.URL(i))
		}
	}
	c.mu.Unlock()
	nc, err := nats.Connect(strings.Join(urls, ","), nats.Name("clustertest"))
	if err != nil {
		c.t.Fatalf("clustertest: connect to %v: %v", urls, err)
	}
	js, err := natsjs.New(nc)
	if err != nil {
		nc.Close()
		c.t.Fatalf("clustertest: jetstream: %v", err)
	}
	return nc, js
}

// waitMetaLeader waits until the JetStream API answers (a meta leader is
// elected).
func (c *Cluster) waitMetaLeader() {
	c.t.Helper()
	nc, js := c.connect()
	defer nc.Close()
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("clustertest: no JetStream meta leader after %s: %v", readyTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StreamLeader waits until the cluster has a meta leader (consumers are
// created through it), stream has a leader and every replica on a running
// node is current, and returns the leader's node index.
func (c *Cluster) StreamLeader(stream string) int {
	c.t.Helper()
	c.waitMetaLeader()
	nc, js := c.connect()
	defer nc.Close()
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := js.Stream(ctx, stream)
		var info *natsjs.StreamInfo
		if err == nil {
			info, err = st.Info(ctx)
		}
		cancel()
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" && c.currentPeers(info.Cluster.Replicas)+1 >= c.running() {
			if i := c.Index(info.Cluster.Leader); i >= 0 {
				return i
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("clustertest: stream %s has no leader after %s (%v)", stream, readyTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// LeadsStream reports whether node i is running and holds itself to be
// the leader of stream (in the global account, where the tests' streams
// are). A leader cut off from its peers keeps answering until it notices
// it lost its quorum and steps down.
func (c *Cluster) LeadsStream(i int, stream string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	return n.srv != nil && n.srv.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream)
}

// WaitStepDown waits until node i no longer leads stream: a leader cut off
// from its peers keeps answering until it notices it lost its quorum. It
// fails the test after a minute (a liveness bound).
func (c *Cluster) WaitStepDown(i int, stream string) {
	c.t.Helper()
	for deadline := time.Now().Add(time.Minute); c.LeadsStream(i, stream); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			c.t.Fatalf("clustertest: node %s still leads stream %s a minute after it lost its peers", c.nodes[i].name, stream)
		}
	}
}

// currentPeers counts the followers that are online and current.
func (c *Cluster) currentPeers(peers []*natsjs.PeerInfo) int {
	n := 0
	for _, p := range peers {
		if p.Current && !p.Offline {
			n++
		}
	}
	return n
}

// running counts the running nodes.
func (c *Cluster) running() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, nd := range c.nodes {
		if nd.srv != nil {
			n++
		}
	}
	return n
}

// Replicas returns the replicas of stream.
func (c *Cluster) Replicas(stream string) int {
	c.t.Helper()
	nc, js := c.connect()
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		c.t.Fatalf("clustertest: stream %s: %v", stream, err)
	}
	return st.CachedInfo().Config.Replicas
}

// DeleteStream deletes stream (a test's own; the store never deletes).
func (c *Cluster) DeleteStream(stream string) {
	c.t.Helper()
	nc, js := c.connect()
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := js.DeleteStream(ctx, stream); err != nil {
		c.t.Fatalf("clustertest: delete stream %s: %v", stream, err)
	}
}

// Running reports whether node i runs.
func (c *Cluster) Running(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].srv != nil
}

// StoreDir returns node i's store directory.
func (c *Cluster) StoreDir(i int) string { return c.nodes[i].opts.StoreDir }
