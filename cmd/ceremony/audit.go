package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/keyfile"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/export"
)

// toolVersion names this build in export manifests.
const toolVersion = "ceremony 0.1 (export format 1)"

// cmdAudit runs "audit verify-store|export|verify|key".
func cmdAudit(ctx context.Context, args []string, _ io.Reader, out io.Writer) error {
	if len(args) == 0 {
		return usagef("audit takes a subcommand: verify-store, export, verify DIR, key, report ID")
	}
	sub, args := args[0], args[1:]
	fs, c := newFlags("audit "+sub, out)
	keyPath := fs.String("key-file", "audit-signing.key", "Ed25519 signing key file (created on first use; keep it out of the data directory)")
	outDir := fs.String("out", "", "export: the directory to write (must not hold an export); report: the HTML file")
	from := fs.String("from", "", "export: first event time (RFC 3339)")
	to := fs.String("to", "", "export: events before this time (RFC 3339)")
	ceremony := fs.String("ceremony", "", "export: one ceremony id")
	kind := fs.String("kind", "", "export: one ceremony kind")
	pubKey := fs.String("public-key", "", "verify: the public key (hex) or a file holding it")
	exportOf := fs.String("export", "", "report: a signed export of the ceremony, whose hashes the report lists")
	var hf hsmFlags
	hf.register(fs) // with --hsm pkcs11 the signing key lives in the token
	signer := func() (export.Signer, func(), error) {
		if hf.kind == "pkcs11" {
			h, closeHSM, err := hf.open(ctx, nil)
			if err != nil {
				return nil, nil, err
			}
			s, created, err := h.(*pkcs11hsm.HSM).AuditSigner(ctx)
			if err != nil {
				closeHSM()
				return nil, nil, err
			}
			if created {
				fmt.Fprintf(out, "created the audit signing key in %s (Ed25519, not extractable)\n", h.Name())
			}
			return s, closeHSM, nil
		}
		if hf.kind != "soft" {
			return nil, nil, usagef("--hsm %q: use soft (a key file) or pkcs11", hf.kind)
		}
		s, created, err := keyfile.LoadOrCreate(*keyPath)
		if err != nil {
			return nil, nil, err
		}
		if created {
			fmt.Fprintf(out, "created the signing key %s\n", *keyPath)
		}
		return s, func() {}, nil
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch sub {
	case "key":
		s, done, err := signer()
		if err != nil {
			return err
		}
		defer done()
		fmt.Fprintf(out, "public key:  %x\nfingerprint: %s\n", []byte(s.Public()), export.Fingerprint(s.Public()))
		return nil
	case "verify":
		if len(pos) != 1 || *pubKey == "" {
			return usagef("audit verify takes the export directory and --public-key")
		}
		pub, err := keyfile.ParsePublic(*pubKey)
		if err != nil {
			return usagef("--public-key: %v", err)
		}
		m, err := export.Verify(pos[0], pub)
		if err != nil {
			return &codeError{exitNotDone, err}
		}
		fmt.Fprintf(out, "OK: %d events of %d ceremonies (stream %d..%d), signed by %s\n", m.Events, len(m.Ceremonies), m.FirstSeq, m.LastSeq, m.Fingerprint)
		return nil
	case "report":
		if len(pos) != 1 || *outDir == "" {
			return usagef("audit report takes the ceremony id and --out FILE.html")
		}
		a, err := c.open(ctx, out)
		if err != nil {
			return err
		}
		defer a.close()
		return cmdReport(ctx, a, pos[0], *outDir, *exportOf, out)
	case "verify-store", "export":
	default:
		return usagef("audit %s: use verify-store, export, verify, key or report", sub)
	}
	if len(pos) != 0 {
		return usagef("audit %s takes no arguments", sub)
	}
	a, err := c.open(ctx, out)
	if err != nil {
		return err
	}
	defer a.close()
	var recs []events.Record
	if err := a.store.Replay(ctx, 1, func(r events.Record) error { recs = append(recs, r); return nil }); err != nil {
		return err
	}
	if sub == "verify-store" {
		byID := map[string][]events.Envelope{}
		for _, r := range recs {
			byID[r.CeremonyID] = append(byID[r.CeremonyID], r.Envelope)
		}
		for id, envs := range byID {
			if err := events.VerifyChain(envs); err != nil {
				return &codeError{exitNotDone, fmt.Errorf("ceremony %s: %w", id, err)}
			}
		}
		fmt.Fprintf(out, "OK: %d events of %d ceremonies, every hash and chain holds\n", len(recs), len(byID))
		return nil
	}
	if *outDir == "" {
		return usagef("audit export needs --out DIR")
	}
	f := export.Filter{CeremonyID: *ceremony, Kind: *kind}
	for _, t := range []struct {
		s   string
		dst *time.Time
	}{{*from, &f.From}, {*to, &f.To}} {
		if t.s == "" {
			continue
		}
		if *t.dst, err = time.Parse(time.RFC3339, t.s); err != nil {
			return usagef("--from/--to %q: use RFC 3339, e.g. 2026-11-27T10:00:00Z", t.s)
		}
	}
	sg, done, err := signer()
	if err != nil {
		return err
	}
	defer done()
	m, err := export.Write(*outDir, recs, f, toolVersion, time.Now(), sg)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "exported %d events of %d ceremonies to %s, signed by %s\n", m.Events, len(m.Ceremonies), *outDir, m.Fingerprint)
	return nil
}
