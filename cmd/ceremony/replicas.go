package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies/health"
)

// systemUserFlags name the system account's user of the NATS cluster,
// with which a command asks each server what it holds of the stream
// (README.md, "Running on a NATS cluster").
type systemUserFlags struct {
	creds, nkey string
}

func (f *systemUserFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.creds, "nats-system-creds", "", "with --nats: credentials file (.creds) of a user of the system account, to ask each server what it holds of the stream")
	fs.StringVar(&f.nkey, "nats-system-nkey", "", "with --nats: nkey seed file of a user of the system account (instead of --nats-system-creds)")
}

func (f *systemUserFlags) given() bool { return f.creds != "" || f.nkey != "" }

// check refuses the flags without --nats.
func (f *systemUserFlags) check(c *common) error {
	if f.given() && len(c.nats.urls) == 0 {
		return usagef("--nats-system-creds and --nats-system-nkey need --nats URL: they check the replicas of a cluster's stream")
	}
	if f.creds != "" && f.nkey != "" {
		return usagef("give --nats-system-creds or --nats-system-nkey, not both")
	}
	return nil
}

// replicas asks each server of the stream's replica set what it holds.
func (f *systemUserFlags) replicas(ctx context.Context, c *common, st *jetstream.Store) ([]jetstream.Replica, error) {
	n := c.nats
	sys := jetstream.Remote{URLs: n.urls, CredsFile: f.creds, TLSCert: n.tlsCert, TLSKey: n.tlsKey, TLSCA: n.tlsCA}
	rs, err := st.Replicas(ctx, sys, f.nkey)
	if err != nil {
		return nil, fmt.Errorf("check the replicas of stream %s: %w", st.StreamName(), err)
	}
	return rs, nil
}

// checkReplicas prints what each replica holds, for verify-store. A
// damaged replica is exit 6 (its peers still hold the history); one
// behind or not answering is a warning.
func (f *systemUserFlags) checkReplicas(ctx context.Context, c *common, out io.Writer) error {
	if len(c.nats.urls) == 0 {
		return nil
	}
	if !f.given() {
		fmt.Fprintln(out, "Note: the replicas of the stream were not checked: the stream info calls a replica current even when its files lost events at its restart; give --nats-system-creds or --nats-system-nkey (a user of the system account) to ask each server what it holds.")
		return nil
	}
	cfg, where, err := c.storeConfig(out)
	if err != nil {
		return err
	}
	st, err := jetstream.Open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("open the event store %s: %w", where, err)
	}
	defer st.Close()
	rs, err := f.replicas(ctx, c, st)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Replicas of stream %s, as each server says:\n", st.StreamName())
	var damaged []string
	for _, r := range rs {
		name := r.Server
		if r.Leader {
			name += " (leader)"
		}
		switch {
		case r.OK():
			fmt.Fprintf(out, "  %s: holds every event %d-%d\n", name, r.First, r.Last)
		case r.Damaged:
			fmt.Fprintf(out, "  %s: DAMAGED: %s. What to do: %s.\n", name, r.Problem, r.Advice)
			damaged = append(damaged, r.Server)
		default:
			fmt.Fprintf(out, "  %s: WARNING: %s. What to do: %s.\n", name, r.Problem, r.Advice)
		}
	}
	if len(damaged) > 0 {
		return &codeError{exitAltered, fmt.Errorf("the copy of stream %s on %s is damaged (see above); its peers hold the history: read it through another server", st.StreamName(), strings.Join(damaged, ", "))}
	}
	return nil
}

// replicaFindings are health's findings about the replicas: critical for
// a damaged one, a warning for one behind or not answering.
func (f *systemUserFlags) replicaFindings(ctx context.Context, c *common, st *jetstream.Store) []health.Finding {
	if !f.given() {
		return nil
	}
	subject := "stream " + st.StreamName()
	rs, err := f.replicas(ctx, c, st)
	if err != nil {
		return []health.Finding{{Severity: health.Warning, Subject: subject, What: err.Error(), Recovery: "check the system account's credentials and the servers, then run 'ceremony health' again"}}
	}
	var out []health.Finding
	for _, r := range rs {
		if r.OK() {
			continue
		}
		sev := health.Warning
		if r.Damaged {
			sev = health.Critical
		}
		out = append(out, health.Finding{Severity: sev, Subject: subject + " on " + r.Server, What: r.Problem, Recovery: r.Advice})
	}
	return out
}
