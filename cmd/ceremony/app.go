package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// common holds the flags every command takes.
type common struct {
	dataDir string
	sync    string
}

func newFlags(name string, out io.Writer) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	c := &common{}
	def := os.Getenv("CEREMONY_DATA_DIR")
	if def == "" {
		def = "ceremony-data"
	}
	fs.StringVar(&c.dataDir, "data-dir", def, "event store directory")
	fs.StringVar(&c.sync, "sync", "always", "fsync policy: always (every event on disk before it is acknowledged) or relaxed (rehearsals only)")
	return fs, c
}

// parse parses args, flags and positional arguments in any order
// ("show ID --data-dir D" as well as "show --data-dir D ID"), and turns
// flag errors into usage errors. It returns the positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%v", err)
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// parseNoArgs parses args for a command that takes flags only.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("%s takes no arguments, got %q", fs.Name(), pos)
	}
	return nil
}

// openCeremony checks that pos names one ceremony, opens the store and
// returns it. The caller closes the app.
func (c *common) openCeremony(ctx context.Context, out io.Writer, cmd string, pos []string) (*app, *engine.Instance, error) {
	if len(pos) != 1 {
		return nil, nil, usagef("%s takes one ceremony id ('ceremony list' shows them)", cmd)
	}
	a, err := c.open(ctx, out)
	if err != nil {
		return nil, nil, err
	}
	inst, err := a.get(pos[0])
	if err != nil {
		a.close()
		return nil, nil, err
	}
	return a, inst, nil
}

// app is an open event store with an engine on it.
type app struct {
	store *jetstream.Store
	eng   *engine.Engine
}

func (c *common) open(ctx context.Context, out io.Writer) (*app, error) {
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
	eng, err := engine.New(engine.Config{Store: st, Registry: events.DefaultRegistry(), Definitions: kinds.Definitions()})
	if err != nil {
		st.Close()
		return nil, err
	}
	if err := eng.Open(octx); err != nil {
		st.Close()
		return nil, fmt.Errorf("replay the event store in %s: %w", c.dataDir, err)
	}
	return &app{store: st, eng: eng}, nil
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

// outcome maps how a ceremony ended to an error for the exit code.
func outcome(inst *engine.Instance) error {
	switch ph := inst.Phase(); ph {
	case backupkey.PhaseCompleted:
		return nil
	case backupkey.PhaseAborted, backupkey.PhaseFailed, backupkey.PhaseVoid:
		return &codeError{exitNotDone, fmt.Errorf("ceremony %s ended %s: 'ceremony show %s' says why", inst.ID(), ph, inst.ID())}
	default:
		return &codeError{exitNotDone, fmt.Errorf("ceremony %s stopped in phase %s: 'ceremony resume %s' continues it", inst.ID(), ph, inst.ID())}
	}
}
