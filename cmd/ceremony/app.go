package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// common holds the flags of a command that opens the event store.
type common struct {
	dataDir string
	sync    string
	flags   *pflag.FlagSet // to tell an explicit --data-dir "" from none
}

// storeFlags adds --data-dir and --sync to a command that opens the event
// store.
func storeFlags(cmd *cobra.Command) *common {
	c := &common{flags: cmd.Flags()}
	cmd.Flags().StringVar(&c.dataDir, "data-dir", "", "event store directory (default $"+dataDirEnv+", else ./"+defaultDataDir+")")
	syncFlag(cmd.Flags(), &c.sync)
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

// openCeremony opens the store and returns the ceremony id with it. The
// caller closes the app.
func (c *common) openCeremony(ctx context.Context, out io.Writer, id string) (*app, *engine.Instance, error) {
	a, err := c.open(ctx, out)
	if err != nil {
		return nil, nil, err
	}
	inst, err := a.get(id)
	if err != nil {
		a.close()
		return nil, nil, err
	}
	return a, inst, nil
}

// app is an open event store with an engine on it, and the read models
// every kind folds (the inventory, health).
type app struct {
	store *jetstream.Store
	eng   *engine.Engine
	views *kinds.Views
}

func (c *common) open(ctx context.Context, out io.Writer) (*app, error) {
	c.resolveDataDir()
	var mode jetstream.SyncMode
	switch c.sync {
	case "always":
		mode = jetstream.SyncAlways
	case "relaxed":
		mode = jetstream.SyncRelaxed
		fmt.Fprintln(out, "WARNING: --sync relaxed: acknowledged events may be lost on a power cut. Use it for rehearsals only.")
	default:
		return nil, usagef("--sync %q: use always or relaxed", c.sync)
	}
	if c.dataDir == "" {
		return nil, usagef("--data-dir is empty: give the event store directory")
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := jetstream.Open(octx, jetstream.Config{DataDir: c.dataDir, Sync: mode})
	if err != nil {
		return nil, fmt.Errorf("open the event store in %s: %w", c.dataDir, err)
	}
	views := kinds.NewViews()
	eng, err := engine.New(views.EngineConfig(st))
	if err != nil {
		st.Close()
		return nil, err
	}
	if err := eng.Open(octx); err != nil {
		st.Close()
		return nil, fmt.Errorf("replay the event store in %s: %w", c.dataDir, err)
	}
	return &app{store: st, eng: eng, views: views}, nil
}

func (a *app) close() {
	a.eng.Close()
	a.store.Close()
}

// get returns a ceremony or a not-found error with exit code 4.
func (a *app) get(id string) (*engine.Instance, error) {
	inst, err := a.eng.Get(id)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, &codeError{exitNotFound, fmt.Errorf("no ceremony %q in this event store: 'ceremony list' shows them", id)}
	}
	return inst, err
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
