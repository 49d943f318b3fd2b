package main

import (
	"crypto/rand"
	"fmt"

	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/spf13/cobra"
)

func newGenerateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate a Backup Key and write it to cards, interactively",
		Long: `Generate a Backup Key, split it k-of-n and write one share to each of n
cards, read k of them back to check the key, then load it into the HSM.
The operator is guided on the terminal, which serves as PIN pad: on
emulated cards (--cards-dir) the operator types which card goes into the
reader; with --reader the cards go into a PC/SC reader.

A step not done within --step-timeout pauses the ceremony; 'ceremony
resume ID' continues it, also after a crash or a closed terminal.`,
		Example: `  ceremony generate --operator alice --quorum 2-of-3 --cards-dir cards
  ceremony generate --operator alice --quorum 3-of-5 --reader "REINER SCT cyberJack RFID komfort" \
      --hsm pkcs11 --pkcs11-token pkcs11:token=ceremony --witnesses 2`,
		Args: noArgs,
	}
	c := storeFlags(cmd)
	fs := cmd.Flags()
	var sf stationFlags
	sf.register(fs, needsHSM|needsOperator)
	quorum := fs.String("quorum", "2-of-3", "quorum k-of-n: 2-of-3, 3-of-5, or a custom k-of-n (2 <= k <= n <= 16)")
	witnesses := fs.Int("witnesses", 0, "witness sign-offs required before the key is loaded (taken on the terminal)")
	id := fs.String("id", "", "ceremony id (default: gen-<random>)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, in, out := cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout()
		q, err := backupkey.ParseQuorum(*quorum)
		if err != nil {
			return usagef("--quorum: %v", err)
		}
		if sf.operator == "" {
			return usagef("--operator is required: the events record who ran the ceremony")
		}
		if *witnesses < 0 || *witnesses > 9 {
			return usagef("--witnesses %d: give 0 to 9", *witnesses)
		}
		if *id == "" {
			*id = "gen-" + engine.RandomID()[:8]
		}
		b, err := sf.openBench(ctx, c, in, out, true)
		if err != nil {
			return err
		}
		defer b.close()
		station, h, a := b.station, b.hand, b.app
		inst, err := a.eng.Start(ctx, backupkey.KindGenerate, *id, events.SourceOperator, &events.GenerateStarted{
			Operator: sf.operator, Threshold: q.Threshold, Shares: q.Shares, Reader: station.Reader.Name(), HSM: station.HSM.Name(),
		})
		if err != nil {
			return err
		}
		if err := requireWitnesses(ctx, inst, *witnesses); err != nil {
			return err
		}
		fmt.Fprintf(out, "Ceremony %s started (%s).\n", inst.ID(), q)
		runner := &backupkey.Runner{Engine: a.eng, Station: station, Rand: rand.Reader, Say: sayTo(out)}
		return drive(ctx, inst, h, out, runner.Run)
	}
	return cmd
}
