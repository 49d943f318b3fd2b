package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/translog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// common holds the flags of a command that opens the event store.
type common struct {
	dataDir string
	sync    string
	nats    natsFlags
	flags   *pflag.FlagSet // to tell an explicit --data-dir "" from none
}

// natsFlags say how to reach an existing NATS server or cluster, named as
// the NATS CLI names them.
type natsFlags struct {
	urls     []string
	creds    string
	nkey     string
	tlsCert  string
	tlsKey   string
	tlsCA    string
	replicas int
	// checkpointDir keeps this station's checkpoints of the remote stream
	// (see cpDirFor).
	checkpointDir string
}

func (n *natsFlags) register(fs *pflag.FlagSet) {
	fs.StringSliceVar(&n.urls, "nats", nil, "use the event store on an existing NATS server or cluster: URL[,URL...] (nats://host:port or tls://host:port) instead of --data-dir")
	fs.StringVar(&n.creds, "nats-creds", "", "with --nats: user credentials file (.creds)")
	fs.StringVar(&n.nkey, "nats-nkey", "", "with --nats: user nkey seed file")
	fs.StringVar(&n.tlsCert, "tlscert", "", "with --nats: TLS client certificate file")
	fs.StringVar(&n.tlsKey, "tlskey", "", "with --nats: TLS client key file")
	fs.StringVar(&n.tlsCA, "tlsca", "", "with --nats: CA file that signs the servers' certificates")
	fs.IntVar(&n.replicas, "replicas", 0, "with --nats: replicas of the event stream when it is created (default 3 when the cluster has 3 or more servers, else 1)")
	fs.StringVar(&n.checkpointDir, "checkpoint-dir", "", "with --nats: this station's directory of signed checkpoints of the stream (default: checkpoints/ in $"+dataDirEnv+", else in ./"+defaultDataDir+")")
}

// storeFlags adds --data-dir, --sync and the NATS flags to a command that
// opens the event store.
func storeFlags(cmd *cobra.Command) *common {
	c := &common{flags: cmd.Flags()}
	cmd.Flags().StringVar(&c.dataDir, "data-dir", "", "event store directory (default $"+dataDirEnv+", else ./"+defaultDataDir+"); a 'ceremony serve' running on it is used")
	syncFlag(cmd.Flags(), &c.sync)
	c.nats.register(cmd.Flags())
	return c
}

// syncFlag adds --sync.
func syncFlag(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "sync", "always", "fsync policy: always (every event on disk before it is acknowledged) or relaxed (rehearsals only)")
}

const (
	dataDirEnv     = "CEREMONY_DATA_DIR"
	defaultDataDir = "ceremony-data"
)

// resolveDataDir fills in the default event store directory when
// --data-dir was not given.
func (c *common) resolveDataDir() {
	if c.dataDir != "" || (c.flags != nil && c.flags.Changed("data-dir")) {
		return
	}
	if c.dataDir = os.Getenv(dataDirEnv); c.dataDir == "" {
		c.dataDir = defaultDataDir
	}
}

// openCeremony opens the store (open) and loads the ceremony id with it
// (app.get). The caller closes the app.
func (c *common) openCeremony(ctx context.Context, out io.Writer, id string) (*app, *engine.Instance, error) {
	a, err := c.open(ctx, out)
	if err != nil {
		return nil, nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, openDeadline)
	defer cancel()
	inst, err := a.get(lctx, id)
	if err != nil {
		a.close()
		return nil, nil, err
	}
	return a, inst, nil
}

// openOne opens the store and loads ceremony id from its own events only,
// for a command about that ceremony alone (show, events, witness): the
// read models stay empty. The caller closes the app.
func (c *common) openOne(ctx context.Context, out io.Writer, id string) (*app, *engine.Instance, error) {
	t0 := time.Now()
	a, _, err := c.connect(ctx, out)
	if err != nil {
		return nil, nil, err
	}
	debugf("connected to the event store in %v", time.Since(t0))
	octx, cancel := context.WithTimeout(ctx, openDeadline)
	defer cancel()
	inst, err := a.eng.OpenCeremony(octx, id)
	if errors.Is(err, engine.ErrNotFound) {
		a.close()
		return nil, nil, notFound(id)
	}
	if err != nil {
		a.close()
		return nil, nil, err
	}
	return a, inst, nil
}

// app is an open event store with an engine on it, and the read models
// every kind folds (the inventory, health).
type app struct {
	store      *jetstream.Store
	leases     *jetstream.Leases // the engine's, across processes and nodes
	eng        *engine.Engine
	views      *kinds.Views
	stopFollow func()        // set by follow
	tlog       *translog.Log // nil without an audit key
	cpDir      translog.Dir  // where the checkpoints are (see cpDirFor)
	writer     bool          // writes a checkpoint at close (set by follow)
	out        io.Writer     // where close says so
	dataDir    string        // "" with --nats
	backup     *autoBackup   // after every completed ceremony (--backup-dir), or nil
}

// open opens the store for a command that may record (openStore on an
// active engine): the read models from the projection checkpoint and the
// events after it; a ceremony the tail does not touch is loaded by
// app.get when the command asks for it. A command that writes saves a
// fresh checkpoint at close (app.writer).
func (c *common) open(ctx context.Context, out io.Writer) (*app, error) {
	return c.openStore(ctx, out, openMode{})
}

// openAll opens the store by replaying the whole stream on purpose, on a
// passive engine, for a command that checks every event (audit
// verify-store); its deadline grows with the stream (replayDeadline).
func (c *common) openAll(ctx context.Context, out io.Writer) (*app, error) {
	return c.openStore(ctx, out, openMode{passive: true, full: true})
}

// connect opens the store and builds an engine on it, nothing loaded,
// within openDeadline (longer when the store's files are checked on a
// copy first: jetstream.Config.CheckTimeout).
func (c *common) connect(ctx context.Context, out io.Writer) (*app, string, error) {
	cfg, where, err := c.storeConfig(out)
	if err != nil {
		return nil, "", err
	}
	octx, cancel := context.WithTimeout(ctx, openDeadline)
	st, err := jetstream.Open(octx, cfg)
	cancel()
	if errors.Is(err, jetstream.ErrLocked) {
		return nil, "", fmt.Errorf("open the event store %s: %w; wait for it to end (to let several commands use one store at once, run 'ceremony serve --data-dir %s')", where, err, c.dataDir)
	}
	if errors.Is(err, jetstream.ErrDamaged) {
		return nil, "", damaged(where, err)
	}
	if err != nil {
		return nil, "", fmt.Errorf("open the event store %s: %w%s", where, err, checkAdvice(err))
	}
	lctx, cancel := context.WithTimeout(ctx, openDeadline)
	defer cancel()
	leases, err := st.OpenLeases(lctx, 0)
	if err != nil {
		st.Close()
		return nil, "", fmt.Errorf("the event store %s: %w", where, err)
	}
	views := kinds.NewViews()
	ecfg := views.EngineConfig(st)
	ecfg.Leases = leases
	eng, err := engine.New(ecfg)
	if err != nil {
		leases.Close()
		st.Close()
		return nil, "", err
	}
	a := &app{store: st, leases: leases, eng: eng, views: views, cpDir: c.cpDirFor()}
	if len(c.nats.urls) == 0 {
		a.dataDir = c.dataDir
	}
	if a.tlog, err = openTranslog(a.cpDir, st.StreamName()); err != nil {
		a.close()
		return nil, "", err
	}
	return a, where, nil
}

// follow keeps the engine and the read models up to date with what other
// processes and nodes store, until the app is closed. A failure is said
// on out; the ceremony goes on (its own appends still check the store).
func (a *app) follow(ctx context.Context, out io.Writer) {
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	a.writer = true
	a.out = out
	go a.checkpointEvery(fctx, out)
	go func() {
		defer close(done)
		if err := a.eng.Follow(fctx); err != nil {
			fmt.Fprintf(out, "Note: no longer following other processes' events: %v\n", err)
		}
	}()
	a.stopFollow = func() { cancel(); <-done }
}

// storeConfig says which store to open, and where it is for messages: the
// NATS servers of --nats, the service running on the data directory, or
// the embedded server on it.
func (c *common) storeConfig(out io.Writer) (jetstream.Config, string, error) {
	var mode jetstream.SyncMode
	switch c.sync {
	case "always":
		mode = jetstream.SyncAlways
	case "relaxed":
		mode = jetstream.SyncRelaxed
	default:
		return jetstream.Config{}, "", usagef("--sync %q: use always or relaxed", c.sync)
	}
	n := c.nats
	if len(n.urls) > 0 {
		if c.flags != nil && c.flags.Changed("data-dir") {
			return jetstream.Config{}, "", usagef("--nats and --data-dir: give one (the store is on the NATS servers or in the directory)")
		}
		if c.flags != nil && c.flags.Changed("sync") {
			return jetstream.Config{}, "", usagef("--sync with --nats: the servers' sync_interval decides durability (set it to always on every node)")
		}
		if n.replicas < 0 {
			return jetstream.Config{}, "", usagef("--replicas %d: give 1 to 5, or leave it out", n.replicas)
		}
		cfg := jetstream.Config{NkeySeedFile: n.nkey, Remote: jetstream.Remote{
			URLs: n.urls, CredsFile: n.creds, TLSCert: n.tlsCert, TLSKey: n.tlsKey, TLSCA: n.tlsCA, Replicas: n.replicas,
		}}
		return cfg, "on " + strings.Join(n.urls, ","), nil
	}
	if c.flags != nil {
		for _, f := range []string{"nats-creds", "nats-nkey", "tlscert", "tlskey", "tlsca", "replicas", "checkpoint-dir"} {
			if c.flags.Changed(f) {
				return jetstream.Config{}, "", usagef("--%s needs --nats URL", f)
			}
		}
	}
	c.resolveDataDir()
	if c.dataDir == "" {
		return jetstream.Config{}, "", usagef("--data-dir is empty: give the event store directory")
	}
	svc, err := readService(c.dataDir)
	if err != nil {
		return jetstream.Config{}, "", err
	}
	if svc != nil && svc.alive() {
		if svc.Sync == "relaxed" {
			fmt.Fprintln(out, "WARNING: the service runs with --sync relaxed: acknowledged events may be lost on a power cut. Use it for rehearsals only.")
		}
		cfg := jetstream.Config{NkeySeedFile: svc.NkeyFile, Remote: jetstream.Remote{URLs: []string{svc.URL}}}
		return cfg, fmt.Sprintf("of the service on %s (pid %d, 'ceremony serve' in %s)", svc.URL, svc.PID, c.dataDir), nil
	}
	if svc != nil {
		fmt.Fprintf(out, "Note: %s names a service (pid %d) that is not running; opening the store directly.\n", servicePath(c.dataDir), svc.PID)
	}
	if mode == jetstream.SyncRelaxed {
		fmt.Fprintln(out, "WARNING: --sync relaxed: acknowledged events may be lost on a power cut. Use it for rehearsals only.")
	}
	check, err := checkTimeout()
	if err != nil {
		return jetstream.Config{}, "", err
	}
	return jetstream.Config{DataDir: c.dataDir, Sync: mode, Check: historyCheck(c.cpDirFor()), CheckTimeout: check}, "in " + c.dataDir, nil
}

// checkTimeoutEnv gives the time allowed to check the store's files on a
// copy when they are not as an orderly shutdown left them
// (jetstream.Config.CheckTimeout; default: 30 s plus 200 ms for each MiB
// of the stream's files).
const checkTimeoutEnv = "CEREMONY_STORE_CHECK_TIMEOUT"

func checkTimeout() (time.Duration, error) {
	v := os.Getenv(checkTimeoutEnv)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, usagef("%s=%q: give a duration, e.g. 30m", checkTimeoutEnv, v)
	}
	return d, nil
}

// checkAdvice says what to do when the check of the store's files on a
// copy ran out of time.
func checkAdvice(err error) string {
	if !errors.Is(err, jetstream.ErrCheckUnfinished) {
		return ""
	}
	return fmt.Sprintf("; the check reads every event of the stream: run the command again with more time for it, e.g. %s=30m (a duration)", checkTimeoutEnv)
}

func (a *app) close() {
	if a.stopFollow != nil {
		a.stopFollow()
	}
	if a.writer {
		a.checkpoint(context.Background(), a.out, "at shutdown")
		saveProjection(context.Background(), a.store, a.out) // its deadlines grow with the events to fold
		pctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if a.dataDir != "" {
			sealProjection(pctx, a.store)
		}
		cancel()
	}
	a.eng.Close()
	a.leases.Close()
	a.store.Close()
}

// get returns a ceremony (load) or a not-found error with exit code 4.
func (a *app) get(ctx context.Context, id string) (*engine.Instance, error) {
	inst, err := a.load(ctx, id)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, notFound(id)
	}
	return inst, err
}

// load returns a loaded ceremony, or else one read from its own subject
// (engine.OpenCeremony: a ceremony known from the projection checkpoint
// only, or one another process started since the open), which is then
// loaded and, on an active engine, its open step deadline re-armed
// (ARCHITECTURE.md, "Engine rules"); engine.ErrNotFound when the store
// holds no such ceremony.
func (a *app) load(ctx context.Context, id string) (*engine.Instance, error) {
	inst, err := a.eng.Get(id)
	if errors.Is(err, engine.ErrNotFound) {
		t0 := time.Now()
		if inst, err = a.eng.OpenCeremony(ctx, id); err == nil {
			debugf("ceremony %s loaded from its own events (%d) in %v", id, inst.Position(), time.Since(t0))
		}
	}
	return inst, err
}

// notFound is the error, exit code 4, of a ceremony id the store does
// not hold.
func notFound(id string) error {
	return &codeError{exitNotFound, fmt.Errorf("no ceremony %q in this event store: 'ceremony list' shows them", id)}
}

// oneCeremony is one ceremony loaded for a read command about it alone
// (show, events): from the block files without a server
// (readSealedOne), or through the store (openOne).
type oneCeremony struct {
	inst    *engine.Instance
	records func(context.Context) ([]events.Record, error) // its events as stored
	close   func()
}

// openRead loads ceremony id for a read command: without starting the
// server when the store is sealed and its locator finds it
// (readSealedOne), else through openOne. The caller calls close.
func (c *common) openRead(ctx context.Context, out io.Writer, id string) (oneCeremony, error) {
	if one, used, err := c.readSealedOne(ctx, out, id); used {
		return one, err
	}
	a, inst, err := c.openOne(ctx, out, id)
	if err != nil {
		return oneCeremony{}, err
	}
	load := func(ctx context.Context) ([]events.Record, error) { return a.store.Load(ctx, inst.ID()) }
	return oneCeremony{inst: inst, records: load, close: a.close}, nil
}

// outcome maps how a ceremony ended to an error for the exit code: its
// kind says which terminal phase is done (Kind.Completed).
func outcome(inst *engine.Instance) error {
	k, err := kinds.Lookup(inst.Kind())
	if err != nil {
		return err
	}
	switch ph := inst.Phase(); {
	case ph == k.Completed:
		return nil
	case inst.Ended():
		return &codeError{exitNotDone, fmt.Errorf("ceremony %s ended %s: 'ceremony show %s' says why", inst.ID(), ph, inst.ID())}
	default:
		return &codeError{exitNotDone, fmt.Errorf("ceremony %s stopped in phase %s: %s", inst.ID(), ph, resumeHint(inst.ID()))}
	}
}

// resumeHint says what a resume of a stopped ceremony does: it cannot
// promise to continue (a key held in memory is gone; a set may be void).
func resumeHint(id string) string {
	return fmt.Sprintf("what this process held in memory is lost; 'ceremony resume %s --operator NAME' says what that means and goes on where it can (or 'ceremony abort %s')", id, id)
}
