package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/ceremonies/hsmbackup"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/spf13/cobra"
)

// vault adapts the PKCS#11 HSM to the hsmbackup.Vault port.
type vault struct{ h *pkcs11hsm.HSM }

func (v vault) Name() string { return v.h.Name() }

func (v vault) BackupKey(ctx context.Context) (string, string, bool, error) {
	return v.h.BackupKey(ctx)
}

func (v vault) KeysForBackup(ctx context.Context) ([]hsmbackup.KeyInfo, []hsmbackup.Skipped, error) {
	keys, skipped, err := v.h.KeysForBackup(ctx)
	if err != nil {
		return nil, nil, err
	}
	out := make([]hsmbackup.KeyInfo, 0, len(keys))
	for _, k := range keys {
		out = append(out, toPort(k))
	}
	sk := make([]hsmbackup.Skipped, 0, len(skipped))
	for _, s := range skipped {
		sk = append(sk, hsmbackup.Skipped{Key: toPort(s.Key), Reason: s.Reason})
	}
	return out, sk, nil
}

func (v vault) WrapKey(ctx context.Context, k hsmbackup.KeyInfo) ([]byte, error) {
	return v.h.WrapKey(ctx, fromPort(k))
}

func (v vault) UnwrapKey(ctx context.Context, k hsmbackup.KeyInfo, wrapped []byte) error {
	return v.h.UnwrapKey(ctx, fromPort(k), wrapped)
}

func toPort(k pkcs11hsm.KeyInfo) hsmbackup.KeyInfo {
	return hsmbackup.KeyInfo{Label: k.Label, ID: k.ID, Class: k.Class, KeyType: k.KeyType, ECParams: k.ECParams, ECPoint: k.ECPoint,
		Modulus: k.Modulus, PublicExponent: k.PublicExponent, ValueLen: k.ValueLen}
}

func fromPort(k hsmbackup.KeyInfo) pkcs11hsm.KeyInfo {
	return pkcs11hsm.KeyInfo{Label: k.Label, ID: k.ID, Class: k.Class, KeyType: k.KeyType, ECParams: k.ECParams, ECPoint: k.ECPoint,
		Modulus: k.Modulus, PublicExponent: k.PublicExponent, ValueLen: k.ValueLen}
}

func newHSMCmd() *cobra.Command {
	backup := newHSMSubCmd("backup", &cobra.Command{
		Use:   "backup",
		Short: "Wrap the HSM's extractable keys under its Backup Key into a file (--hsm pkcs11)",
		Long: `Back up a PKCS#11 token: each extractable key is wrapped under the token's
Backup Key (loaded by a generate or load ceremony) and written, with the
Backup Key's KCV, to --out FILE, which is never overwritten. Keys that
cannot be wrapped (not extractable, say) are listed as skipped.`,
		Example: `  ceremony hsm backup --out node-a.backup.json --operator alice \
      --hsm pkcs11 --pkcs11-token node-a --pkcs11-pin-file node-a.pin`,
		Args: noArgs,
	})
	restore := newHSMSubCmd("restore", &cobra.Command{
		Use:   "restore FILE",
		Short: "Unwrap a backup into an HSM loaded with the same Backup Key (--hsm pkcs11)",
		Long: `Restore the keys of a backup FILE into a PKCS#11 token that holds the same
Backup Key (checked by its KCV before anything is unwrapped); a token with
no Backup Key or another one is refused. Keys that exist already are
refused and left as they are.`,
		Example: `  ceremony hsm restore node-a.backup.json --operator bob \
      --hsm pkcs11 --pkcs11-token node-b --pkcs11-pin-file node-b.pin`,
		Args: oneArg("the backup file"),
	})
	return group("hsm", "Back up and restore an HSM's keys under its Backup Key", "", backup, restore)
}

// newHSMSubCmd completes "hsm backup" and "hsm restore".
func newHSMSubCmd(sub string, cmd *cobra.Command) *cobra.Command {
	c := storeFlags(cmd)
	fs := cmd.Flags()
	var hf hsmFlags
	hf.register(fs)
	operator := fs.String("operator", "", "who runs the ceremony (recorded; required)")
	outFile := new(string)
	if sub == "backup" {
		fs.StringVar(outFile, "out", "", "the file to write (never overwritten)")
	}
	id := fs.String("id", "", "ceremony id (default: "+sub+"-<random>)")
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		ctx, out := cmd.Context(), cmd.OutOrStdout()
		if *operator == "" {
			return usagef("--operator is required: the events record who ran the ceremony")
		}
		var path string
		switch {
		case sub == "backup" && (len(pos) != 0 || *outFile == ""):
			return usagef("hsm backup writes --out FILE and takes no arguments")
		case sub == "backup":
			path = *outFile
		case len(pos) != 1 || *outFile != "":
			return usagef("hsm restore takes the backup file as its one argument")
		default:
			path = pos[0]
		}
		if hf.kind != "pkcs11" {
			return usagef("hsm %s needs --hsm pkcs11: the software HSM holds no keys to back up or restore", sub)
		}
		if *id == "" {
			*id = sub + "-" + engine.RandomID()[:8]
		}
		h, closeHSM, err := hf.open(ctx, nil)
		if err != nil {
			return err
		}
		defer closeHSM()
		a, err := c.open(ctx, out)
		if err != nil {
			return err
		}
		defer a.close()
		v := vault{h.(*pkcs11hsm.HSM)}
		var inst *engine.Instance
		if sub == "backup" {
			inst, err = hsmbackup.RunBackup(ctx, a.eng, v, *id, *operator, path, time.Now())
		} else {
			inst, err = hsmbackup.RunRestore(ctx, a.eng, v, *id, *operator, path)
		}
		if inst != nil {
			if perr := printEvents(ctx, a, inst.ID(), out); perr != nil {
				return perr
			}
			fmt.Fprintf(out, "Ceremony %s: %s.\n", inst.ID(), inst.Phase())
		}
		if err != nil && inst != nil && inst.Ended() {
			return &codeError{exitNotDone, err} // recorded: refused, or some keys not restored
		}
		return err
	}
	return cmd
}
