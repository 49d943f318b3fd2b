package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ceremony-hsm/ceremony/adapters/keyfile"
	"github.com/ceremony-hsm/ceremony/events/export"
)

func newAuditVerifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify DIR",
		Short: "Verify an export offline (--public-key)",
		Long: `Verify an export directory offline, with only the export and the signing
key's public key: the manifest's signature, each file's SHA-256, and each
event's hash and place in its ceremony's chain. Exits 0 only when
everything holds; otherwise exits 6 naming the file and line. A file in
the directory that is not the export's fails it too, named. Only regular
files are read (a FIFO, a device or a symlink to one is refused), and a
line of at most 1 MiB. SIGINT or SIGTERM stops it at once: "interrupted",
naming the line it stopped at, exit 1, no verdict.

An export with a checkpoint (see 'ceremony audit export') is also checked
against it: the checkpoint's signature under the key the signed manifest
names, and each event's inclusion proof in the checkpoint's tree, so even
an export of one ceremony is proven part of the checkpointed log. Each
--witness-key must have co-signed that checkpoint (C2SP
tlog-cosignature); each is reported, and one that did not exits 6. The
checkpoint's co-signatures by witnesses whose signed sign-off is in the
export are checked too: a changed one exits 6.`,
		Example: `  ceremony audit verify exp/ --public-key 3b6a27bc...
  ceremony audit verify exp/ --public-key audit-key.pub --witness-key wendy.pub --witness-key walter.pub
  ceremony audit verify exp/ --public-key audit-key.pub`,
		Args: oneArg("the export directory"),
	}
	pubKey := cmd.Flags().String("public-key", "", "the public key (hex, as 'ceremony audit key' prints it) or a file holding it (required)")
	witnessKeys := cmd.Flags().StringSlice("witness-key", nil, "a witness's public key (hex, as 'ceremony witness --key-file' prints it) or a file holding it: the export's checkpoint must be co-signed by it; repeatable")
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		out := cmd.OutOrStdout()
		if *pubKey == "" {
			return usagef("audit verify takes the export directory and --public-key")
		}
		pub, err := keyfile.ParsePublic(*pubKey)
		if err != nil {
			return usagef("--public-key: %v", err)
		}
		m, err := export.Verify(cmd.Context(), pos[0], pub)
		if cmd.Context().Err() != nil {
			var stopped *export.StoppedError
			if errors.As(err, &stopped) {
				return fmt.Errorf("%w: stopped at line %d of %s, the export is not verified", interrupted(cmd.Context()), stopped.Line, stopped.File)
			}
			return fmt.Errorf("%w: the export is not verified", interrupted(cmd.Context()))
		}
		if err != nil {
			return &codeError{exitAltered, err}
		}
		fmt.Fprintf(out, "OK: %d events of %d ceremonies (stream %d..%d), signed by %s\n", m.Events, len(m.Ceremonies), m.FirstSeq, m.LastSeq, m.Fingerprint)
		if cp := m.Checkpoint; cp != nil {
			fmt.Fprintf(out, "OK: every event is included in the signed checkpoint of %q: %d events, root %s (checkpoint key %s)\n", cp.Origin, cp.Size, cp.RootHash, export.FingerprintHex(cp.PublicKey))
			if err := checkExportCosignatures(pos[0], out); err != nil {
				return err
			}
		} else {
			fmt.Fprintln(out, "Note: this export holds no checkpoint (the station had no audit key): it is not proven part of the station's log")
		}
		return verifyWitnessKeys(pos[0], m.Checkpoint != nil, *witnessKeys, out)
	}
	return cmd
}
