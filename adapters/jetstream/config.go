package jetstream

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultStream is the stream name used when Config.Stream is empty.
const DefaultStream = "CEREMONIES"

// SyncMode says when the embedded server fsyncs a write.
type SyncMode int

const (
	// SyncAlways fsyncs every write before it is acknowledged. The default.
	SyncAlways SyncMode = iota
	// SyncRelaxed leaves the server's default periodic fsync (every two
	// minutes): acknowledged events can be lost on a power cut or kernel
	// crash. For rehearsals only; it must be asked for explicitly.
	SyncRelaxed
)

func (m SyncMode) String() string {
	switch m {
	case SyncAlways:
		return "always"
	case SyncRelaxed:
		return "relaxed"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// Config configures Open.
type Config struct {
	// DataDir holds the store, under DataDir/jetstream. Created if missing.
	DataDir string
	// Sync is the durability of a write. The zero value is SyncAlways.
	Sync SyncMode
	// Stream names the stream. Empty: DefaultStream.
	Stream string
	// Listen is a host:port for a TCP client listener of the embedded
	// server (port 0: any free port). Empty: no listener; only this process
	// can reach the server. A listener needs NkeySeedFile: its one user.
	Listen string

	// NkeySeedFile is a file holding a NATS user nkey seed. With Listen,
	// the embedded server accepts that user only (see Permissions); with
	// URLs, the client authenticates with it.
	NkeySeedFile string

	// Check, when set, is called before the embedded server starts on
	// DataDir, with a store on a throw-away copy of its files (see
	// precheck): it checks the history the server would serve against a
	// record kept outside the store (the transparency log's hashes and
	// checkpoints). Its error makes Open refuse with a *DamageError.
	Check func(ctx context.Context, s *Store) error
	// CheckTimeout is the time Open allows, whatever ctx's deadline, when
	// it checks the store's files on a copy (they are not as an orderly
	// shutdown left them). 0: 30 s plus 200 ms for each MiB of the
	// stream's files, when that is longer than ctx's deadline
	// (precheck.go). Cancelling ctx still stops Open.
	CheckTimeout time.Duration

	// Remote, when it has URLs, connects to an existing NATS server or
	// cluster instead of starting the embedded server: DataDir, Sync and
	// Listen are then unused (durability is the servers' sync_interval).
	Remote Remote

	readBudget time.Duration // tests: the store's readBudget (0: readBudget)
}

// Remote is how to reach an existing NATS server or cluster, as the NATS
// CLI takes it (docs.nats.io, "nats" CLI contexts).
type Remote struct {
	URLs      []string // nats://host:port, tls://host:port; the first that answers is used
	CredsFile string   // a .creds file (user JWT and nkey seed)
	TLSCert   string   // client certificate (PEM), with TLSKey
	TLSKey    string
	TLSCA     string // CA bundle that signs the servers' certificates
	// Replicas of the stream when it is created. 0: 3 when the client
	// knows of 3 or more servers, else 1.
	Replicas int
}

// remote reports whether c connects to an existing server.
// replicasFor is the replicas of a new stream on a cluster of servers
// nodes: Replicas when given, else 3 on 3 or more servers, else 1.
func (r Remote) replicasFor(servers int) int {
	switch {
	case r.Replicas != 0:
		return r.Replicas
	case servers >= 3:
		return 3
	}
	return 1
}

func (c Config) remote() bool { return len(c.Remote.URLs) > 0 }

// storeDir is where the embedded server keeps its files.
func (c Config) storeDir() string { return filepath.Join(c.DataDir, "jetstream") }

// lockFile is held by the one store that uses DataDir.
func (c Config) lockFile() string { return filepath.Join(c.storeDir(), "store.lock") }

// streamName returns the configured stream name or the default.
func (c Config) streamName() string {
	if c.Stream == "" {
		return DefaultStream
	}
	return c.Stream
}

// serverOptions checks c and returns the options of the embedded server.
func (c Config) serverOptions() (*server.Options, error) {
	if c.DataDir == "" {
		return nil, fmt.Errorf("jetstream: Config.DataDir is empty: it must name the directory that holds the event store")
	}
	opts := &server.Options{
		JetStream:  true,
		StoreDir:   c.storeDir(),
		DontListen: true,
		NoSigs:     true,
		NoLog:      true,
	}
	switch c.Sync {
	case SyncAlways:
		opts.SyncAlways = true
	case SyncRelaxed:
		// The server's default periodic fsync.
	default:
		return nil, fmt.Errorf("jetstream: Config.Sync is %v: want SyncAlways or SyncRelaxed", c.Sync)
	}
	if c.Listen != "" {
		if c.NkeySeedFile == "" {
			return nil, fmt.Errorf("jetstream: Config.Listen %q without Config.NkeySeedFile: a listener needs authentication", c.Listen)
		}
		users, err := listenerUsers(c.NkeySeedFile, c.streamName())
		if err != nil {
			return nil, err
		}
		opts.Nkeys = users
		host, portText, err := net.SplitHostPort(c.Listen)
		if err != nil {
			return nil, fmt.Errorf("jetstream: Config.Listen %q: want host:port: %w", c.Listen, err)
		}
		if err := checkLoopback(c.Listen, host); err != nil {
			return nil, err
		}
		port, err := strconv.Atoi(portText)
		if err != nil || port < 0 || port > 65535 {
			return nil, fmt.Errorf("jetstream: Config.Listen %q: port must be 0-65535", c.Listen)
		}
		if port == 0 {
			port = server.RANDOM_PORT
		}
		opts.DontListen = false
		opts.Host = host
		opts.Port = port
	}
	return opts, nil
}

// prepareDataDir creates the store directory and checks that it is
// writable, so that a bad DataDir is an error naming it rather than a
// server that does not start.
func (c Config) prepareDataDir() error {
	dir := c.storeDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("jetstream: create data directory %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("jetstream: data directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	_, werr := f.Write([]byte("ok"))
	cerr := f.Close()
	rerr := os.Remove(name)
	for _, err := range []error{werr, cerr, rerr} {
		if err != nil {
			return fmt.Errorf("jetstream: data directory %s is not writable: %w", dir, err)
		}
	}
	return nil
}
