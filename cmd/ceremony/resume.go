package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/hsmbackup"
	"github.com/ceremony-hsm/ceremony/ceremonies/pinchange"
	"github.com/ceremony-hsm/ceremony/ceremonies/sharecopy"
	"github.com/ceremony-hsm/ceremony/ceremonies/usercard"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/spf13/cobra"
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
station flags as the ceremony had (--cards-dir or --reader, --hsm ...).`,
		Example: `  ceremony resume gen-1a2b3c4d --cards-dir cards`,
		Args:    ceremonyArg,
	}
	c := storeFlags(cmd)
	var sf stationFlags
	sf.register(cmd.Flags(), needsHSM)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx, in, out := cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout()
		a, inst, err := c.openCeremony(ctx, out, args[0])
		if err != nil {
			return err
		}
		defer a.close()
		if inst.Ended() {
			fmt.Fprintf(out, "Ceremony %s has ended (%s): nothing to resume.\n", inst.ID(), inst.Phase())
			return outcome(inst)
		}
		switch inst.Kind() {
		case hsmbackup.KindBackup, hsmbackup.KindRestore:
			return resumeHSMBackup(ctx, inst, out)
		case usercard.KindEnrol, usercard.KindActivate, pinchange.Kind, sharecopy.Kind:
			return resumeCard(ctx, a, inst, &sf, in, out)
		}
		station, h, closeHSM, err := sf.interactive(ctx, in, out)
		if err != nil {
			return err
		}
		defer closeHSM()
		fmt.Fprintf(out, "Resuming ceremony %s (%s) in phase %s.\n", inst.ID(), inst.Kind(), inst.Phase())
		runner := &backupkey.Runner{Engine: a.eng, Station: station, Rand: rand.Reader, Say: sayTo(out), Resumed: true}
		return drive(ctx, inst, h, out, runner.Run)
	}
	return cmd
}

// resumeHSMBackup ends an interrupted backup or restore: neither holds a
// secret worth continuing from, so the record says to run it again.
func resumeHSMBackup(ctx context.Context, inst *engine.Instance, out io.Writer) error {
	var pending string
	inst.View(func(s engine.State) { pending = s.(*hsmbackup.State).Pending })
	reason := "interrupted before it finished"
	recovery := "run it again; a backup file is written only at the end, so none is half-written"
	if inst.Kind() == hsmbackup.KindRestore {
		recovery = "run the restore again: keys already restored are refused as existing and left as they are"
		if pending != "" {
			reason = fmt.Sprintf("interrupted while unwrapping key %q: look for it on the token", pending)
		}
	}
	if err := inst.Record(ctx, events.SourceEngine, &events.CeremonyFailed{Reason: reason, Recovery: recovery}); err != nil {
		return err
	}
	fmt.Fprintf(out, "Ceremony %s ended: %s; %s.\n", inst.ID(), reason, recovery)
	return outcome(inst)
}

// resumeCard continues a user-card or PIN ceremony on a new station.
func resumeCard(ctx context.Context, a *app, inst *engine.Instance, sf *stationFlags, in io.Reader, out io.Writer) error {
	station, h, closeHSM, err := sf.station(ctx, in, out, false)
	if err != nil {
		return err
	}
	defer closeHSM()
	fmt.Fprintf(out, "Resuming ceremony %s (%s) in phase %s.\n", inst.ID(), inst.Kind(), inst.Phase())
	switch inst.Kind() {
	case pinchange.Kind:
		runner := &pinchange.Runner{Engine: a.eng, Station: station, Say: sayTo(out)}
		return drive(ctx, inst, h, out, runner.Run)
	case sharecopy.Kind:
		runner := &sharecopy.Runner{Engine: a.eng, Station: station, Say: sayTo(out)}
		return drive(ctx, inst, h, out, runner.Run)
	}
	slots, err := sf.hsm.slots()
	if err != nil {
		return err
	}
	var credential []byte
	if inst.Kind() == usercard.KindEnrol && (sf.hsm.pinFile != "" || sf.hsm.pinEnv != "") {
		// The credential was held in memory only: the operator gives it again.
		if credential, err = sf.hsm.readCredential(); err != nil {
			return err
		}
	}
	defer ceremonies.Wipe(credential)
	runner := &usercard.Runner{Engine: a.eng, Station: station, Slots: slots, Rand: rand.Reader, Say: sayTo(out), Credential: credential}
	return drive(ctx, inst, h, out, runner.Run)
}
