package main

import (
	"fmt"

	"github.com/ceremony-hsm/ceremony/ceremonies/sharecopy"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/spf13/cobra"
)

// newCopyCmd builds "copy": a one-to-one copy of a Backup Key share to
// another card.
func newCopyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "copy",
		Short: "Copy one card's Backup Key share one-to-one onto another card",
		Long: `Copy the Backup Key share of one card (the source, inserted first) onto
another card (the target): a spare for a card that wears out or goes
away. The source card is refused as target; overwriting the only card
holding another share is warned about and must be confirmed; a user card
cannot be copied.`,
		Example: `  ceremony copy --operator alice --cards-dir cards`,
		Args:    noArgs,
	}
	c := storeFlags(cmd)
	var sf stationFlags
	sf.register(cmd.Flags(), needsOperator)
	id := cmd.Flags().String("id", "", "ceremony id (default: copy-<random>)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, in, out := cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout()
		if sf.operator == "" {
			return usagef("--operator is required: the events record who ran the ceremony")
		}
		if *id == "" {
			*id = "copy-" + engine.RandomID()[:8]
		}
		b, err := sf.openBench(ctx, c, in, out, false)
		if err != nil {
			return err
		}
		defer b.close()
		inst, err := b.app.eng.Start(ctx, sharecopy.Kind, *id, events.SourceOperator, &events.CopyStarted{Operator: sf.operator, Reader: b.station.Reader.Name()})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "Ceremony %s started: insert the source card, then the target card.\n", inst.ID())
		runner := &sharecopy.Runner{Engine: b.app.eng, Station: b.station, Say: sayTo(out)}
		return drive(ctx, inst, b.hand, out, runner.Run)
	}
	return cmd
}
