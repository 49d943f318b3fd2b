package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/usercard"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/spf13/cobra"
)

// pkcs11Slots is the PKCS#11 slot a user card stands for: a login opens
// the token with the credential the card unsealed.
type pkcs11Slots struct {
	name string
	cfg  pkcs11hsm.Config
}

// slotsFrom names the slot as the operator gave the token (a URI as is,
// a label or serial as pkcs11:token=...): enrol and activate must name it
// the same way, since the card's sealed credential is bound to the name.
func (h *hsmFlags) slots() (pkcs11Slots, error) {
	if h.kind != "pkcs11" || h.token == "" {
		return pkcs11Slots{}, usagef("user cards activate a PKCS#11 slot: give --hsm pkcs11 --pkcs11-token ...")
	}
	name := h.token
	if !pkcs11hsm.IsURI(name) {
		name = "pkcs11:token=" + name
	}
	return pkcs11Slots{name: name, cfg: pkcs11hsm.Config{Module: h.module, Token: h.token, Name: name}}, nil
}

func (s pkcs11Slots) Name() string { return s.name }

func (s pkcs11Slots) Login(ctx context.Context, credential []byte) (io.Closer, error) {
	cfg := s.cfg
	cfg.PIN = pkcs11hsm.PINSource{Prompt: func() ([]byte, error) { return credential, nil }}
	return pkcs11hsm.Open(ctx, cfg)
}

// readCredential reads the slot credential to seal at enrolment from the
// --pkcs11-pin-file or --pkcs11-pin-env (never a flag value).
func (h *hsmFlags) readCredential() ([]byte, error) {
	switch {
	case h.pinFile != "" && h.pinEnv != "":
		return nil, usagef("give the slot credential one way: --pkcs11-pin-file or --pkcs11-pin-env")
	case h.pinFile != "":
		b, err := os.ReadFile(h.pinFile)
		if err != nil {
			return nil, fmt.Errorf("read the slot credential: %w", err)
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	case h.pinEnv != "":
		v, ok := os.LookupEnv(h.pinEnv)
		if !ok || v == "" {
			return nil, usagef("--pkcs11-pin-env %s: the variable is not set", h.pinEnv)
		}
		return []byte(v), nil
	}
	return nil, usagef("user enrol seals the slot's user PIN to the card: give it with --pkcs11-pin-file or --pkcs11-pin-env")
}

func newUserCmd() *cobra.Command {
	enrol := newUserSubCmd("enrol", "Seal a PKCS#11 slot's user PIN to a key made on a card (--hsm pkcs11)",
		`Enrol a user card for a PKCS#11 slot. The slot's user PIN (given with
--pkcs11-pin-file or --pkcs11-pin-env, never as a flag value) is checked
by a login before any card is touched; then a key is made on the card
(its admin PIN, the backup slot's) and the PIN is sealed to that key, the
card's serial and the slot's name, and written to the card's user slot
(its user PIN). Name the slot the same way here and at 'user activate'.`,
		`  ceremony user enrol --operator alice --cards-dir cards \
      --hsm pkcs11 --pkcs11-token slot-1 --pkcs11-pin-file slot-1.pin`)
	activate := newUserSubCmd("activate", "Log the slot in with the card and its PIN; OK on the PIN pad logs it out",
		`Activate a PKCS#11 slot with its user card: the card's PIN unseals the
slot credential, which logs the slot in; OK on the PIN pad logs it out.
A copy of a card's sealed credential on another card is refused.`,
		`  ceremony user activate --operator bob --cards-dir cards --hsm pkcs11 --pkcs11-token slot-1`)
	return group("user", "Enrol and activate user cards for a PKCS#11 slot", "", enrol, activate)
}

// newUserSubCmd builds "user enrol" and "user activate".
func newUserSubCmd(sub, short, long, example string) *cobra.Command {
	cmd := &cobra.Command{Use: sub, Short: short, Long: long, Example: example, Args: noArgs}
	c := storeFlags(cmd)
	var sf stationFlags
	sf.register(cmd.Flags(), needsHSM|needsOperator)
	id := cmd.Flags().String("id", "", "ceremony id (default: "+sub+"-<random>)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, in, out := cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout()
		if sf.operator == "" {
			return usagef("--operator is required: the events record who ran the ceremony")
		}
		slots, err := sf.hsm.slots()
		if err != nil {
			return err
		}
		var credential []byte
		if sub == "enrol" {
			if credential, err = sf.hsm.readCredential(); err != nil {
				return err
			}
		} else if sf.hsm.pinFile != "" || sf.hsm.pinEnv != "" {
			return usagef("user activate takes no PIN source: the card holds the slot credential")
		}
		defer ceremonies.Wipe(credential)
		if *id == "" {
			*id = sub + "-" + engine.RandomID()[:8]
		}
		b, err := sf.openBench(ctx, c, in, out, false)
		if err != nil {
			return err
		}
		defer b.close()
		station, h, a := b.station, b.hand, b.app
		var inst *engine.Instance
		if sub == "enrol" {
			inst, err = a.eng.Start(ctx, usercard.KindEnrol, *id, events.SourceOperator, &events.UserEnrolStarted{Operator: sf.operator, Reader: station.Reader.Name(), Slot: slots.Name()})
		} else {
			inst, err = a.eng.Start(ctx, usercard.KindActivate, *id, events.SourceOperator, &events.UserActivateStarted{Operator: sf.operator, Reader: station.Reader.Name(), Slot: slots.Name()})
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "Ceremony %s started.\n", inst.ID())
		runner := &usercard.Runner{Engine: a.eng, Station: station, Slots: slots, Rand: rand.Reader, Say: sayTo(out), Credential: credential}
		return drive(ctx, inst, h, out, runner.Run)
	}
	return cmd
}
