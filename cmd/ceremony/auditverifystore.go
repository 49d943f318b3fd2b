package main

import (
	"context"
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
ceremony's hash chain. Exits 3 naming the ceremony when one does not hold.`,
		Args: noArgs,
	}
	c := storeFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runAuditVerifyStore(cmd.Context(), c, cmd.OutOrStdout())
	}
	return cmd
}

func runAuditVerifyStore(ctx context.Context, c *common, out io.Writer) error {
	a, err := c.open(ctx, out)
	if err != nil {
		return err
	}
	defer a.close()
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
	return nil
}

// storedRecords reads every event of the store, in stream order.
func storedRecords(ctx context.Context, a *app) ([]events.Record, error) {
	var recs []events.Record
	err := a.store.Replay(ctx, 1, func(r events.Record) error { recs = append(recs, r); return nil })
	return recs, err
}
