package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"

	"github.com/ceremony-hsm/ceremony/adapters/keyfile"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/spf13/cobra"
)

// newWitnessCmd builds "witness": it records a witness's sign-off of a
// ceremony, at any phase, also after its end; with --key-file the witness
// signs it with their own Ed25519 key.
func newWitnessCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "witness ID",
		Short: "Record a witness's sign-off of a ceremony, also after its end",
		Long: `Record a witness's sign-off of a ceremony, at any phase and also after its
end: the sign-off covers the ceremony's events up to the last one (its
hash is recorded). With --key-file the witness signs it with their own
Ed25519 key (the signature and its public key are recorded). A key file
that does not exist is an error unless --create is given: then it is made.

With --key-file the witness also co-signs the checkpoint that covers the
ceremony (C2SP tlog-cosignature): the newest one in the checkpoints
directory, written first when this command has the station's audit key.
The co-signature is stored next to it and carried into exports of it;
'ceremony audit verify --witness-key' checks it.`,
		Example: `  ceremony witness gen-1a2b3c4d --name "Wendy Witness" --role auditor --key-file wendy.key --create   # the first time
  ceremony witness gen-1a2b3c4d --name "Wendy Witness" --role auditor --key-file wendy.key`,
		Args: ceremonyArg,
	}
	c := storeFlags(cmd)
	fs := cmd.Flags()
	name := fs.String("name", "", "the witness's name (required)")
	role := fs.String("role", "", "the witness's role, e.g. auditor, security officer (required)")
	statement := fs.String("statement", "I witnessed this ceremony as recorded up to this point", "what the witness attests")
	key := fs.String("key-file", "", "the witness's own Ed25519 key file, to sign the sign-off (must exist unless --create)")
	create := fs.Bool("create", false, "make the --key-file if it does not exist (the first sign-off with a new key)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if *create && *key == "" {
			return usagef("--create makes a --key-file: give its path")
		}
		if *key != "" && !*create {
			if _, err := os.Stat(*key); errors.Is(err, iofs.ErrNotExist) {
				return usagef("--key-file %s does not exist: give the path of the witness's key file, or add --create to make a new key there", *key)
			}
		}
		return runWitness(cmd.Context(), c, args[0], *name, *role, *statement, *key, cmd.OutOrStdout())
	}
	return cmd
}

func runWitness(ctx context.Context, c *common, id, name, role, statement, key string, out io.Writer) error {
	if name == "" || role == "" {
		return usagef("--name and --role are required: the sign-off records both")
	}
	a, inst, err := c.openOne(ctx, out, id)
	if err != nil {
		return err
	}
	defer a.close()
	// The stream sequence of the ceremony's last event: the checkpoint a
	// signed sign-off co-signs must cover it.
	var upTo uint64
	if key != "" && a.tlog != nil {
		if err := a.tlog.Sync(ctx, a.store); err != nil {
			return fmt.Errorf("read the stream: %w", err)
		}
		upTo = a.tlog.LastOf(inst.ID())
	}
	w := &events.Witnessed{Name: name, Role: role, Statement: statement, UpTo: inst.LastHash()}
	if key != "" {
		s, created, err := keyfile.LoadOrCreate(key)
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintf(out, "Created the witness key file %s (keep it: it is the witness's signing key).\n", key)
		}
		sig, err := s.Sign(events.WitnessMessage(inst.ID(), w.UpTo, w.Name, w.Role, w.Statement))
		if err != nil {
			return err
		}
		w.PublicKey, w.Signature = hex.EncodeToString(s.Public()), hex.EncodeToString(sig)
	}
	if err := inst.Record(ctx, events.SourceOperator, w); err != nil {
		return err
	}
	fmt.Fprintf(out, "Ceremony %s witnessed by %s (%s) up to event %.16s…", inst.ID(), name, role, w.UpTo)
	if w.Signature != "" {
		fmt.Fprint(out, ", signed")
	}
	fmt.Fprintln(out, ".")
	if key != "" {
		if err := a.cosignAsWitness(ctx, out, key, inst.ID(), upTo); err != nil {
			fmt.Fprintf(out, "WARNING: the sign-off is recorded, the checkpoint is not co-signed: %v\n", err)
		}
	}
	return nil
}
