package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/ceremony-hsm/ceremony/adapters/keyfile"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/events/export"
)

// toolVersion names this build in export manifests.
const toolVersion = "ceremony 0.1 (export format 1)"

func newAuditCmd() *cobra.Command {
	return group("audit", "Check the event store, make and verify signed exports, print ceremony reports, prove checkpoints consistent",
		`Audit the record: check every event's hash and every ceremony's chain in
the store (verify-store), write a signed export for auditors (export),
verify an export offline with only the export and the public key
(verify), print the export signing key (key), and print a ceremony's
report (report), and prove offline that one signed checkpoint
extends another (consistency).`,
		newAuditVerifyStoreCmd(), newAuditExportCmd(), newAuditVerifyCmd(), newAuditKeyCmd(), newAuditReportCmd(), newAuditConsistencyCmd())
}

// signingKeyFlags choose the export signing key: a key file, or with
// --hsm pkcs11 a key made in the token.
type signingKeyFlags struct {
	keyFile string
	create  bool
	hsm     hsmFlags
}

func (k *signingKeyFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&k.keyFile, "key-file", "", "Ed25519 signing key file (default: ceremony/"+defaultKeyName+" in the user's config directory, $XDG_CONFIG_HOME or ~/.config on Linux); keep it out of the data directory and the working tree")
	fs.BoolVar(&k.create, "create", false, "make a new key file if there is none (the default one's directory with mode 0700); without it a missing key file is an error, the default one too")
	k.hsm.register(fs) // with --hsm pkcs11 the signing key lives in the token
}

// defaultKeyName is the signing key file's name in the config directory.
const defaultKeyName = "audit-signing.key"

// defaultKeyFile is the signing key file when --key-file is not given.
func defaultKeyFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", usagef("no default place for the signing key (%v): give --key-file", err)
	}
	return filepath.Join(dir, "ceremony", defaultKeyName), nil
}

// signer opens the signing key; the caller calls the returned function
// when done. A key file is made only with --create.
func (k *signingKeyFlags) signer(ctx context.Context, out io.Writer) (export.Signer, func(), error) {
	hf := &k.hsm
	if hf.kind == "pkcs11" {
		if k.keyFile != "" || k.create {
			return nil, nil, usagef("--key-file and --create are for a key file: with --hsm pkcs11 the key is in the token (made there on first use)")
		}
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
	path, isDefault := k.keyFile, false
	if path == "" {
		var err error
		if path, err = defaultKeyFile(); err != nil {
			return nil, nil, err
		}
		isDefault = true
	}
	// keyfile.LoadOrCreate makes a key where there is none: look first, so
	// that a mistyped path is an error rather than a new key.
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if !k.create {
			return nil, nil, usagef("the signing key file %s does not exist: give --create to make a new key", path)
		}
		if isDefault {
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return nil, nil, err
			}
		}
	}
	s, created, err := keyfile.LoadOrCreate(path)
	if err != nil {
		return nil, nil, err
	}
	if created {
		fmt.Fprintf(out, "created the signing key %s\n", path)
	}
	return s, func() {}, nil
}
