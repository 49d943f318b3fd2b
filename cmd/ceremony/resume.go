package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
)

func newResumeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "resume ID",
		Short: "Continue a ceremony that stopped (crash, timeout, closed terminal)",
		Long: `Continue a ceremony that stopped before its end, from its recorded events:
after a crash, a step timeout or a closed terminal. A write whose outcome
was not recorded is checked on the card; secrets held in memory only are
gone, and the ceremony says what must be redone. An interrupted hsm backup
or restore is ended as failed, saying to run it again. Give the same
station flags as the ceremony had (--cards-dir or --reader, --hsm ...).
--operator names who resumes it: recorded in ceremony.resumed and on
anything this run records for the operator (an abort, say).`,
		Example: `  ceremony resume gen-1a2b3c4d --operator bob --cards-dir cards`,
		Args:    ceremonyArg,
	}
	c := storeFlags(cmd)
	var sf stationFlags
	sf.register(cmd.Flags(), allNeeds(), true)
	var bf backupFlags
	bf.register(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx, in, out := cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout()
		if sf.operator == "" {
			return usagef("--operator is required: the events record who resumed the ceremony")
		}
		backup, err := bf.autoBackup(cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		a, inst, err := c.openCeremony(ctx, out, args[0])
		if err != nil {
			return err
		}
		defer a.close()
		a.backup = backup
		a.follow(ctx, out)
		k, err := kinds.Lookup(inst.Kind())
		if err != nil {
			return err
		}
		if inst.Ended() {
			fmt.Fprintf(out, "Ceremony %s has ended (%s): nothing to resume.\n", inst.ID(), inst.Phase())
			return outcome(inst)
		}
		// The runner lease first: no bench is opened for a ceremony another
		// process runs (runKind holds it for the run).
		lease := engine.RunnerLease(inst.ID())
		if err := a.eng.Leases().Acquire(lease, inst.ID()); err != nil {
			return fmt.Errorf("ceremony %s is running elsewhere: %w", inst.ID(), err)
		}
		defer a.eng.Leases().Release(lease, inst.ID())
		b, err := sf.openBench(ctx, k.Needs, credentialIfGiven, in, out)
		if err != nil {
			return err
		}
		defer b.close()
		b.app = a
		fmt.Fprintf(out, "Resuming ceremony %s (%s) in phase %s.\n", inst.ID(), inst.Kind(), inst.Phase())
		return b.runKind(ctx, k, inst, true, out)
	}
	return cmd
}
