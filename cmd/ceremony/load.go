package main

import (
	"crypto/rand"
	"fmt"

	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/spf13/cobra"
)

func newLoadCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Read k cards and load the Backup Key into the HSM, interactively",
		Long: `Read the shares of k cards of a key set, rebuild the Backup Key, check it
against the set's KCV and load it into the HSM. The operator is guided on
the terminal, as in 'ceremony generate'.`,
		Example: `  ceremony load --operator bob --cards-dir cards
  ceremony load --operator bob --cards-dir cards --hsm pkcs11 --pkcs11-token node-b --pkcs11-pin-file node-b.pin`,
		Args: noArgs,
	}
	c := storeFlags(cmd)
	fs := cmd.Flags()
	var sf stationFlags
	sf.register(fs, needsHSM|needsOperator)
	keySet := fs.String("key-set", "", "key set id to load (default: the set of the first card read)")
	witnesses := fs.Int("witnesses", 0, "witness sign-offs required before the key is loaded (taken on the terminal)")
	id := fs.String("id", "", "ceremony id (default: load-<random>)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, in, out := cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout()
		if sf.operator == "" {
			return usagef("--operator is required: the events record who ran the ceremony")
		}
		if *witnesses < 0 || *witnesses > 9 {
			return usagef("--witnesses %d: give 0 to 9", *witnesses)
		}
		if *id == "" {
			*id = "load-" + engine.RandomID()[:8]
		}
		b, err := sf.openBench(ctx, c, in, out, true)
		if err != nil {
			return err
		}
		defer b.close()
		station, h, a := b.station, b.hand, b.app
		if *keySet != "" {
			if _, ok := a.eng.KeySet(*keySet); !ok {
				return usagef("--key-set %s: no such key set in this event store ('ceremony cards' lists the sets cards hold)", *keySet)
			}
		}
		inst, err := a.eng.Start(ctx, backupkey.KindLoad, *id, events.SourceOperator, &events.LoadStarted{
			Operator: sf.operator, KeySetID: *keySet, Reader: station.Reader.Name(), HSM: station.HSM.Name(),
		})
		if err != nil {
			return err
		}
		if err := requireWitnesses(ctx, inst, *witnesses); err != nil {
			return err
		}
		fmt.Fprintf(out, "Ceremony %s started.\n", inst.ID())
		runner := &backupkey.Runner{Engine: a.eng, Station: station, Rand: rand.Reader, Say: sayTo(out)}
		return drive(ctx, inst, h, out, runner.Run)
	}
	return cmd
}
