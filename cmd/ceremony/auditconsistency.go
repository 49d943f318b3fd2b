package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/ceremony-hsm/ceremony/adapters/keyfile"
	"github.com/ceremony-hsm/ceremony/events/translog"
)

func newAuditConsistencyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "consistency OLD NEW",
		Short: "Prove offline that checkpoint NEW extends checkpoint OLD",
		Long: `Prove offline that the signed checkpoint NEW extends the signed checkpoint
OLD: both must verify under the audit public key (--public-key) and be of
the same log, and a consistency proof must take OLD's root hash to NEW's.

The proof is computed from the tree's stored hashes: the file
checkpoints/tree.hashes of a data directory at least as new as NEW
(--data-dir DIR reads DIR/checkpoints/tree.hashes; --hashes FILE takes a
copy of it). The command opens no event store and needs no server. The
hash file is not trusted: the proof is checked against the two signed
roots, so a changed or foreign hash file can only make the check fail.

Exits 0 when NEW extends OLD; exits 6 naming the checkpoint that does not
extend the other (shorter, rewritten, another log, or a bad signature).`,
		Example: `  ceremony audit consistency old.checkpoint new.checkpoint --public-key audit-key.pub --data-dir /var/lib/ceremony
  ceremony audit consistency a.checkpoint b.checkpoint --public-key 3b6a27bc... --hashes tree.hashes`,
		Args: twoArgs("the older and the newer checkpoint file"),
	}
	fl := cmd.Flags()
	pubKey := fl.String("public-key", "", "the audit public key (hex, as 'ceremony audit key' prints it) or a file holding it (required)")
	dataDir := fl.String("data-dir", "", "a data directory whose checkpoints/tree.hashes gives the proof")
	hashes := fl.String("hashes", "", "a copy of a data directory's checkpoints/tree.hashes (instead of --data-dir)")
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		out := cmd.OutOrStdout()
		if *pubKey == "" {
			return usagef("audit consistency takes OLD NEW and --public-key")
		}
		pub, err := keyfile.ParsePublic(*pubKey)
		if err != nil {
			return usagef("--public-key: %v", err)
		}
		path := *hashes
		switch {
		case path != "" && *dataDir != "":
			return usagef("give --data-dir or --hashes, not both")
		case path == "" && *dataDir != "":
			path = filepath.Join(*dataDir, translog.DirName, translog.HashFileName)
		case path == "":
			return usagef("the proof is computed from the tree's hashes: give --data-dir DIR or --hashes FILE")
		}
		older, newer, proof, err := translog.ProveFilesConsistent(pos[0], pos[1], path, pub)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("audit consistency: %w (give --data-dir or --hashes)", err)
			}
			return &codeError{exitAltered, err}
		}
		fmt.Fprintf(out, "OK: checkpoint %s (%d events, root %s) extends checkpoint %s (%d events, root %s); log %s, proof of %d hashes\n",
			pos[1], newer.Size, newer.RootHex(), pos[0], older.Size, older.RootHex(), newer.Origin, len(proof))
		return nil
	}
	return cmd
}

// twoArgs wants two positional arguments, what.
func twoArgs(what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 2 {
			return usagef("give %s%s", what, gotArgs(args))
		}
		return nil
	}
}
