package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/export"
)

func newAuditExportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "A signed export: JSON Lines, CSV and a manifest (--out DIR)",
		Long: `Write a signed export of the event store for auditors into --out DIR:
events.jsonl (each stored event, byte for byte, one a line), events.csv
(the same for spreadsheets) and manifest.json (the filter, the stream
range, per ceremony the count and first and last hashes, the files'
SHA-256, the tool version and an Ed25519 signature). --from, --to,
--ceremony and --kind select the events; an unknown ceremony or kind, or
--from not before --to, is refused. --out must be a new or empty
directory.

The store is read once: each event is checked against its ceremony's
state machine, as a replay does (a history that cannot be replayed is
refused), and written straight to the files.

With the station's audit key (see 'ceremony audit key'), the export also
holds the signed checkpoint of the event stream (checkpoint: the newest
one in the data directory when it covers the stream, otherwise one signed
for the export and stored nowhere, as an export changes no file of the
data directory) and, for each exported event, its inclusion proof in the
checkpoint's tree (inclusion.jsonl). The export holds the events up to the
checkpoint. 'ceremony audit verify' checks them, so an export of one
ceremony is proven part of the checkpointed log.

The signing key is a key file, by default ceremony/audit-signing.key in
the user's config directory; a key file that does not exist is an error
unless --create is given (see 'ceremony audit key'). With --hsm pkcs11
the key is made in the token on first use (Ed25519, never extractable).`,
		Example: `  ceremony audit export --out exp/
  ceremony audit export --out exp-gen/ --ceremony gen-1a2b3c4d
  ceremony audit export --out exp-nov/ --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z`,
		Args: noArgs,
	}
	c := storeFlags(cmd)
	fs := cmd.Flags()
	outDir := fs.String("out", "", "the directory to write (must not hold an export; required)")
	from := fs.String("from", "", "first event time (RFC 3339)")
	to := fs.String("to", "", "events before this time (RFC 3339)")
	ceremony := fs.String("ceremony", "", "one ceremony id")
	kind := fs.String("kind", "", "one ceremony kind, e.g. backup-key-generate")
	var k signingKeyFlags
	k.register(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, out := cmd.Context(), cmd.OutOrStdout()
		if *outDir == "" {
			return usagef("audit export needs --out DIR")
		}
		if err := export.CheckDir(*outDir); err != nil {
			return &usageError{"--out: " + err.Error()}
		}
		f := export.Filter{CeremonyID: *ceremony, Kind: *kind}
		for _, t := range []struct {
			s   string
			dst *time.Time
		}{{*from, &f.From}, {*to, &f.To}} {
			if t.s == "" {
				continue
			}
			var err error
			if *t.dst, err = time.Parse(time.RFC3339, t.s); err != nil {
				return usagef("--from/--to %q: use RFC 3339, e.g. 2026-11-27T10:00:00Z", t.s)
			}
		}
		if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
			return usagef("--from %s is not before --to %s: no event could match; swap them", *from, *to)
		}
		if f.Kind != "" {
			if _, err := kinds.Lookup(f.Kind); err != nil {
				return usagef("--kind %q: no such kind; the kinds are %s", f.Kind, strings.Join(kindNames(), ", "))
			}
		}
		a, err := openForExport(ctx, c, out)
		if err != nil {
			return err
		}
		defer a.close()
		if f.CeremonyID != "" {
			if _, err := a.eng.OpenCeremony(ctx, f.CeremonyID); errors.Is(err, engine.ErrNotFound) {
				return usagef("--ceremony %q: no such ceremony in this event store; 'ceremony list' shows them", f.CeremonyID)
			} else if err != nil {
				return err
			}
		}
		sg, done, err := k.signer(ctx, out)
		if err != nil {
			return err
		}
		defer done()
		// One pass over the store: each event is checked against its
		// ceremony's state machine (as a replay would) and written
		// straight to the files.
		w, err := export.NewWriter(*outDir, f, toolVersion, time.Now(), sg)
		if err != nil {
			return err
		}
		add, err := exportCheckpoint(a, w, out)
		if err != nil {
			w.Discard()
			return err
		}
		chk := a.eng.NewChecker()
		err = a.store.Replay(ctx, 1, func(r events.Record) error {
			if err := chk.Check(r); err != nil {
				return err
			}
			return add(r)
		})
		if err != nil {
			w.Discard()
			return fmt.Errorf("audit export: read the event store: %w (nothing was exported)", err)
		}
		m, err := w.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "exported %d events of %d ceremonies to %s, signed by %s\n", m.Events, len(m.Ceremonies), *outDir, m.Fingerprint)
		return nil
	}
	return cmd
}

// openForExport connects to the store without replaying it (the export's
// own pass checks each ceremony's history) and checks the stream against
// the signed checkpoints, as every command does.
func openForExport(ctx context.Context, c *common, out io.Writer) (*app, error) {
	a, where, err := c.connect(ctx, out)
	if err != nil {
		return nil, err
	}
	if err := a.checkLog(ctx); err != nil {
		a.close()
		return nil, fmt.Errorf("the event store %s: %w", where, err)
	}
	return a, nil
}

// kindNames lists the registered kinds, for a message.
func kindNames() []string {
	var names []string
	for _, k := range kinds.List() {
		names = append(names, k.Name())
	}
	return names
}
