package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/ceremonies/hsmbackup"
	"github.com/ceremony-hsm/ceremony/engine"
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

// cmdHSM runs "hsm backup" and "hsm restore".
func cmdHSM(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	if len(args) == 0 || (args[0] != "backup" && args[0] != "restore") {
		return usagef("hsm takes a subcommand: backup --out FILE, or restore FILE")
	}
	sub := args[0]
	fs, c := newFlags("hsm "+sub, out)
	var hf hsmFlags
	hf.register(fs)
	operator := fs.String("operator", "", "who runs the ceremony (recorded; required)")
	outFile := fs.String("out", "", "backup: the file to write (never overwritten)")
	id := fs.String("id", "", "ceremony id (default: backup-<random> or restore-<random>)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
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
		inst, err = hsmbackup.Backup(ctx, a.eng, v, *id, *operator, path, time.Now())
	} else {
		inst, err = hsmbackup.Restore(ctx, a.eng, v, *id, *operator, path)
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
