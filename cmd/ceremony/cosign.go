package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/keyfile"
	"github.com/ceremony-hsm/ceremony/events/export"
	"github.com/ceremony-hsm/ceremony/events/translog"
)

// cosignAsWitness co-signs, with a witness's Ed25519 key file (C2SP
// tlog-cosignature), the newest checkpoint of the stream, which must
// cover ceremony id up to stream sequence upTo (0: its last event). When
// this command has the audit key it first writes a checkpoint of what is
// stored now (the sign-off included). The co-signature is stored next to
// the checkpoint, in the checkpoints directory, and every export whose
// checkpoint that is carries it.
func (a *app) cosignAsWitness(ctx context.Context, out io.Writer, keyFile, id string, upTo uint64) error {
	if a.tlog == nil {
		fmt.Fprintln(out, "Note: the station has no audit key, so there is no checkpoint to co-sign ('ceremony audit key --create' makes one).")
		return nil
	}
	s, _, err := keyfile.LoadOrCreate(keyFile)
	if err != nil {
		return fmt.Errorf("the witness key file: %w", err)
	}
	if err := a.tlog.Sync(ctx, a.store); err != nil {
		return fmt.Errorf("read the stream: %w", err)
	}
	if upTo == 0 {
		upTo = a.tlog.LastOf(id)
	}
	if a.tlog.CanSign() {
		a.checkpoint(ctx, out, "for the witness's co-signature")
	}
	cp, cpFile, file, err := a.tlog.Cosign(s, upTo, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Co-signed checkpoint %s (%s) as %s, witness key %x (C2SP tlog-cosignature): %s\n",
		cpFile, checkpointLine(cp), translog.WitnessName(s.Public()), []byte(s.Public()), file)
	return nil
}

// verifyWitnessKeys checks that the checkpoint of the export in dir (hasCP:
// it has one; the export is verified) is co-signed by each witness key,
// and reports each.
func verifyWitnessKeys(dir string, hasCP bool, keys []string, out io.Writer) error {
	if len(keys) == 0 {
		return nil
	}
	if !hasCP {
		return &codeError{exitAltered, fmt.Errorf("--witness-key: the export holds no checkpoint, so nothing is co-signed")}
	}
	signed, err := os.ReadFile(filepath.Join(dir, export.CheckpointFile))
	if err != nil {
		return &codeError{exitAltered, fmt.Errorf("read the export's checkpoint: %w", err)}
	}
	var failed []string
	for _, k := range keys {
		pub, err := keyfile.ParsePublic(k)
		if err != nil {
			return usagef("--witness-key %s: %v", k, err)
		}
		// Named by fingerprint: a private key file given by mistake
		// parses as a key too, and is never printed.
		fp := export.Fingerprint(pub)
		c, err := translog.VerifyCosignature(signed, "", pub)
		if err != nil {
			fmt.Fprintf(out, "FAILED: witness key %s: %v\n", fp, err)
			failed = append(failed, fp)
			continue
		}
		fmt.Fprintf(out, "OK: the checkpoint is co-signed by witness key %s (%s) at %s\n", fp, c.Name, c.Time.Format(time.RFC3339))
	}
	if len(failed) > 0 {
		return &codeError{exitAltered, fmt.Errorf("the export's checkpoint is not co-signed by the witness key(s) %s", strings.Join(failed, ", "))}
	}
	return nil
}
