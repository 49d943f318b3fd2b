package jetstream

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/ceremony-hsm/ceremony/events"
)

// Timeouts of the embedded server's start and of the orderly shutdown.
const (
	startTimeout = 10 * time.Second
	drainTimeout = 10 * time.Second
)

var (
	// ErrClosed is returned (wrapped) by every call on a closed Store.
	ErrClosed = errors.New("event store is closed")
	// ErrOutcomeUnknown is returned (wrapped) by Append when no
	// acknowledgement came and the event is not (yet) found in the store.
	// Reload the ceremony before deciding again: the event may still land.
	// Appending it again with the same expectation is safe (it is stored at
	// most once).
	ErrOutcomeUnknown = errors.New("append outcome unknown: no acknowledgement")
	// ErrLocked is returned (wrapped, with the holder's pid, command line
	// and start time) by Open when another store uses the data directory.
	ErrLocked = errors.New("the data directory is in use by another event store")
)

// Store is an events.Store on JetStream, reached through a nats.go
// connection: to the embedded server in this process, or to an existing
// server or cluster (Config.Remote). It is safe for concurrent use; its
// fields are set by Open and never changed.
type Store struct {
	srv        *server.Server // nil when remote
	nc         *nats.Conn
	js         natsjs.JetStream
	stream     natsjs.Stream
	name       string
	replicas   int    // of the stream, as created or found
	storeDir   string // the embedded server's files ("" when remote)
	sync       SyncMode
	connClosed chan struct{} // closed by the connection's ClosedHandler
	unlock     func() error  // releases the data directory lock (embedded)

	leasesPurged atomic.Bool   // the embedded server's stale leases were dropped (OpenLeases)
	readRetried  func(error)   // tests: told of each retry of a read (retryRead)
	readBudget   time.Duration // tests: 0 is the constant readBudget

	sealMu    sync.Mutex        // guards sealParts and sealSeq
	sealParts map[string][]byte // copied next to the seal at shutdown (SealProjection)
	sealSeq   uint64
	openSeal  string // SHA-256 of the seal that held at the start (hex), or ""

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ events.Store = (*Store)(nil)

// Open connects to the store's server and creates the stream, or checks
// the existing one (see checkStreamConfig). With cfg.Remote.URLs it
// connects to that server or cluster; otherwise it starts the embedded
// server on cfg.DataDir (locking it) and connects in-process.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s := &Store{name: cfg.streamName(), sync: cfg.Sync, connClosed: make(chan struct{}), unlock: func() error { return nil }}
	replicas := 1
	if cfg.remote() {
		if err := s.connectRemote(cfg); err != nil {
			return nil, err
		}
		replicas = cfg.Remote.replicasFor(len(s.nc.Servers()))
	} else {
		var cancel context.CancelFunc
		ctx, cancel = cfg.openContext(ctx)
		defer cancel()
		if err := s.startEmbedded(ctx, cfg); err != nil {
			return nil, outOfCheckTime(ctx, cfg, err)
		}
	}
	var err error
	s.js, err = natsjs.New(s.nc)
	switch {
	case err != nil:
	case cfg.remote():
		// During a cluster's election no stream leader answers the lookup:
		// it is retried like every read (readretry.go), then says the
		// cluster has no quorum.
		s.replicas, s.readBudget = replicas, cfg.readBudget
		err = s.retryRead(ctx, func(_, actx context.Context) error {
			st, err := ensureStream(actx, s.js, s.name, replicas)
			s.stream = st
			return err
		})
	default:
		s.stream, err = ensureStream(ctx, s.js, s.name, replicas)
	}
	if err == nil {
		s.replicas = s.stream.CachedInfo().Config.Replicas
	}
	if err != nil {
		s.closed.Store(true)
		if cerr := s.shutdown(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, outOfCheckTime(ctx, cfg, err)
	}
	return s, nil
}

// startEmbedded locks cfg.DataDir, checks its files on a copy (precheck),
// starts the embedded server on it and
// connects in-process.
func (s *Store) startEmbedded(ctx context.Context, cfg Config) error {
	if cfg.Remote.Replicas > 1 {
		return fmt.Errorf("jetstream: Config.Remote.Replicas %d without Remote.URLs: the embedded server is one node; give the cluster's URLs", cfg.Remote.Replicas)
	}
	opts, err := cfg.serverOptions()
	if err != nil {
		return err
	}
	if err := cfg.prepareDataDir(); err != nil {
		return openStorageError(cfg.storeDir(), err)
	}
	unlock, err := lockDir(cfg.lockFile())
	if err != nil {
		return openStorageError(cfg.storeDir(), err)
	}
	if seal, _, err := heldSeal(cfg); err == nil {
		// The locator left with this seal leads on from it (locator.go).
		s.openSeal = sealDigest(seal)
	}
	if err := precheck(ctx, cfg); err != nil {
		return errors.Join(err, unlock())
	}
	srv, err := startServer(opts, cfg.Listen)
	if err != nil {
		return errors.Join(err, unlock())
	}
	connOpts := []nats.Option{nats.InProcessServer(srv)}
	if cfg.NkeySeedFile != "" && cfg.Listen != "" {
		nkey, err := nats.NkeyOptionFromSeed(cfg.NkeySeedFile)
		if err != nil {
			srv.Shutdown()
			srv.WaitForShutdown()
			return errors.Join(fmt.Errorf("jetstream: nkey seed file %s: %w", cfg.NkeySeedFile, err), unlock())
		}
		connOpts = append(connOpts, nkey)
	}
	s.nc, err = nats.Connect("", append(connOpts, s.connOptions()...)...)
	if err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return errors.Join(fmt.Errorf("jetstream: connect to the embedded server: %w", err), unlock())
	}
	s.srv, s.unlock, s.storeDir = srv, unlock, cfg.storeDir()
	return nil
}

// connOptions are the options of every connection of the store.
func (s *Store) connOptions() []nats.Option {
	return []nats.Option{
		nats.Name("ceremony event store"),
		nats.DrainTimeout(drainTimeout),
		nats.ClosedHandler(func(*nats.Conn) { close(s.connClosed) }),
	}
}

// Close drains the connection and shuts the embedded server down, in that
// order. It is idempotent: later calls return the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.closeErr = s.shutdown()
	})
	return s.closeErr
}

func (s *Store) shutdown() error {
	var err error
	var sealParts map[string][]byte
	var sealSeq uint64
	var sealWhy string
	if s.srv != nil {
		sealParts, sealSeq, sealWhy = s.sealedProjectionToWrite()
	}
	if derr := s.nc.Drain(); derr != nil {
		err = fmt.Errorf("jetstream: drain connection: %w", derr)
		s.nc.Close()
	}
	select {
	case <-s.connClosed:
	case <-time.After(drainTimeout + time.Second):
		err = errors.Join(err, fmt.Errorf("jetstream: connection not closed %s after drain", drainTimeout+time.Second))
		s.nc.Close()
	}
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		if err == nil && s.storeDir != "" {
			// An orderly shutdown vouches for the files (seal.go).
			err = writeSeal(filepath.Dir(s.storeDir), s.storeDir, s.name)
		}
		if err == nil && s.storeDir != "" && (sealParts != nil || sealWhy != "") {
			// The projection checkpoint's copy names the seal just
			// written (sealedprojection.go); removed when not written.
			err = writeSealedProjection(filepath.Dir(s.storeDir), s.name, sealParts, sealSeq)
		}
		if err == nil && s.storeDir != "" && (sealParts != nil || sealWhy != "") {
			// So is the locator of each ceremony's events (locator.go).
			err = s.writeLocator(sealParts != nil, sealSeq)
		}
	}
	if uerr := s.unlock(); uerr != nil {
		err = errors.Join(err, fmt.Errorf("jetstream: release data directory lock: %w", uerr))
	}
	return err
}

// startServer starts the embedded server and waits until it serves
// JetStream.
func startServer(opts *server.Options, listen string) (*server.Server, error) {
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("jetstream: configure embedded server on %s: %w", opts.StoreDir, err)
	}
	srv.Start()
	if !srv.ReadyForConnections(startTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("jetstream: embedded server on %s not ready after %s (is the listen address %q taken?)", opts.StoreDir, startTimeout, listen)
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("jetstream: embedded server on %s started without JetStream (the store directory could not be used)", opts.StoreDir)
	}
	return srv, nil
}

// usable returns an error wrapping ErrClosed after Close.
func (s *Store) usable(op string) error {
	if s.closed.Load() {
		return fmt.Errorf("jetstream: %s: %w", op, ErrClosed)
	}
	return nil
}

// Conn returns the store's connection (for leases and tools).
func (s *Store) Conn() *nats.Conn { return s.nc }

// JetStream returns the store's client (for benchmarks and
// tools; appending through it bypasses the checks of Append).
func (s *Store) JetStream() natsjs.JetStream { return s.js }

// StreamName returns the name of the stream that holds the events.
func (s *Store) StreamName() string { return s.name }

// Sync returns the durability the store was opened with, so that a caller
// can show it (a relaxed store must never be silent about it).
func (s *Store) Sync() SyncMode { return s.sync }

// ClientURL returns the URL of the embedded server's TCP listener, or ""
// without one (or when remote).
func (s *Store) ClientURL() string {
	if s.srv == nil || s.srv.Addr() == nil {
		return ""
	}
	return s.srv.ClientURL()
}

// LastSeq returns the stream's last sequence (0 for an empty stream).
func (s *Store) LastSeq(ctx context.Context) (uint64, error) {
	if err := s.usable("last sequence"); err != nil {
		return 0, err
	}
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("jetstream: last sequence of stream %s: %w", s.name, err)
	}
	return info.State.LastSeq, nil
}
