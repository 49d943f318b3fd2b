package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/ceremony-hsm/ceremony/events"
)

func newAuditVerifyStoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify-store",
		Short: "Check every event's hash and every ceremony's chain in the store",
		Long: `Check every event in the event store: its hash, and its place in its
ceremony's hash chain; then that the stream is the history recorded in
the data directory's tree hashes and its newest signed checkpoint (and in
each --checkpoint FILE): nothing missing, nothing changed; and that every
witness co-signature next to a checkpoint verifies with the key of its
signed sign-off. Exits 6 naming the ceremony, the stream sequences and
the first bad record, or the co-signature file, when one does not hold.

With --nats and a user of the system account (--nats-system-creds or
--nats-system-nkey), each server of the stream's replica set is asked what
it holds: a replica missing events (its files damaged) is named with what
to do, exit 6; one behind the leader (catching up from its peers) or not
answering is a warning.`,
		Args: noArgs,
	}
	c := storeFlags(cmd)
	checkpoints := cmd.Flags().StringSlice("checkpoint", nil, "a signed checkpoint file (kept elsewhere) the store must extend; repeatable")
	var sys systemUserFlags
	sys.register(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runAuditVerifyStore(cmd.Context(), c, &sys, *checkpoints, cmd.OutOrStdout())
	}
	return cmd
}

func runAuditVerifyStore(ctx context.Context, c *common, sys *systemUserFlags, checkpoints []string, out io.Writer) error {
	if err := sys.check(c); err != nil {
		return err
	}
	// The replicas first: a read through a damaged one fails (or would
	// miss events), and the report names it.
	replicas := sys.checkReplicas(ctx, c, out)
	a, err := c.openAll(ctx, out)
	if err != nil {
		return errors.Join(err, replicas)
	}
	defer a.close()
	if len(checkpoints) > 0 && a.tlog == nil {
		return usagef("--checkpoint needs the station's audit key and a data directory: the checkpoint is checked with its public key")
	}
	if err := a.checkLog(ctx, checkpoints...); err != nil {
		return err
	}
	recs, err := storedRecords(ctx, a)
	if err != nil {
		return err
	}
	byID := map[string][]events.Envelope{}
	for _, r := range recs {
		byID[r.CeremonyID] = append(byID[r.CeremonyID], r.Envelope)
	}
	for id, envs := range byID {
		if err := events.VerifyChain(envs); err != nil {
			return &codeError{exitAltered, fmt.Errorf("ceremony %s: %w", id, err)}
		}
	}
	fmt.Fprintf(out, "OK: %d events of %d ceremonies, every hash and chain holds\n", len(recs), len(byID))
	if a.tlog != nil {
		if err := checkStoreCosignatures(a.tlog.Dir(), recs, out); err != nil {
			return err
		}
		root, err := a.tlog.Tree().Root(a.tlog.Tree().Size())
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "OK: the stream extends its tree hashes and checkpoints (%s): %d events, root %x\n", a.tlog.Origin(), a.tlog.Tree().Size(), root[:])
	}
	return replicas
}

// storedRecords reads every event of the store, in stream order.
func storedRecords(ctx context.Context, a *app) ([]events.Record, error) {
	var recs []events.Record
	err := a.store.Replay(ctx, 1, func(r events.Record) error { recs = append(recs, r); return nil })
	return recs, err
}
