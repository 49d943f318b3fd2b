package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/ceremony-hsm/ceremony/adapters/keyfile"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/events/export"
)

// toolVersion names this build in export manifests.
const toolVersion = "ceremony 0.1 (export format 1)"

func newAuditCmd() *cobra.Command {
	return group("audit", "Check the event store, make and verify signed exports, print ceremony reports",
		`Audit the record: check every event's hash and every ceremony's chain in
the store (verify-store), write a signed export for auditors (export),
verify an export offline with only the export and the public key
(verify), print the export signing key (key), and print a ceremony's
report (report).`,
		newAuditVerifyStoreCmd(), newAuditExportCmd(), newAuditVerifyCmd(), newAuditKeyCmd(), newAuditReportCmd())
}

// signingKeyFlags choose the export signing key: a key file, or with
// --hsm pkcs11 a key made in the token.
type signingKeyFlags struct {
	keyFile string
	hsm     hsmFlags
}

func (k *signingKeyFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&k.keyFile, "key-file", "audit-signing.key", "Ed25519 signing key file (created on first use; keep it out of the data directory)")
	k.hsm.register(cmd.Flags()) // with --hsm pkcs11 the signing key lives in the token
}

// signer opens the signing key; the caller calls the returned function
// when done.
func (k *signingKeyFlags) signer(ctx context.Context, out io.Writer) (export.Signer, func(), error) {
	hf := &k.hsm
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
	s, created, err := keyfile.LoadOrCreate(k.keyFile)
	if err != nil {
		return nil, nil, err
	}
	if created {
		fmt.Fprintf(out, "created the signing key %s\n", k.keyFile)
	}
	return s, func() {}, nil
}
