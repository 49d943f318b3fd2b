package main

import (
	"fmt"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/pinchange"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/spf13/cobra"
)

// newPINCmd builds "pin" and its one subcommand, "pin change".
func newPINCmd() *cobra.Command {
	return group("pin", "Change a card's PIN", "", newPINChangeCmd())
}

func newPINChangeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "change",
		Short: "Change the PIN of a card's backup or user slot (--slot)",
		Long: `Change one PIN of a card: the backup slot's (which guards the Backup Key
share) or the user slot's (which unseals a PKCS#11 slot credential); each
slot has its own PIN and the other is left as it is. A new PIN has 6 to
16 digits, is not the factory default and differs from the old one; a
refusal names the rule and the PIN is asked again. A change whose outcome
was not recorded is settled on the card by 'ceremony resume'.`,
		Example: `  ceremony pin change --slot user --operator alice --cards-dir cards`,
		Args:    noArgs,
	}
	c := storeFlags(cmd)
	fs := cmd.Flags()
	var sf stationFlags
	sf.register(fs, needsOperator)
	slot := fs.String("slot", "", "which PIN: backup (the Backup Key share slot) or user (the PKCS#11 user slot)")
	id := fs.String("id", "", "ceremony id (default: pin-<random>)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, in, out := cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout()
		if *slot != string(ceremonies.BackupSlot) && *slot != string(ceremonies.UserSlot) {
			return usagef("--slot %q: use backup or user (each slot has its own PIN)", *slot)
		}
		if sf.operator == "" {
			return usagef("--operator is required: the events record who ran the ceremony")
		}
		if *id == "" {
			*id = "pin-" + engine.RandomID()[:8]
		}
		b, err := sf.openBench(ctx, c, in, out, false)
		if err != nil {
			return err
		}
		defer b.close()
		station, h, a := b.station, b.hand, b.app
		inst, err := a.eng.Start(ctx, pinchange.Kind, *id, events.SourceOperator, &events.PINChangeStarted{Operator: sf.operator, Reader: station.Reader.Name(), Slot: *slot})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "Ceremony %s started.\n", inst.ID())
		runner := &pinchange.Runner{Engine: a.eng, Station: station, Say: sayTo(out)}
		return drive(ctx, inst, h, out, runner.Run)
	}
	return cmd
}
