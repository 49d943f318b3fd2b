package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ceremony-hsm/ceremony/events/export"
)

func newAuditKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Print the export signing key's public key and fingerprint",
		Long: `Print the public key (hex) and fingerprint of the key that signs audit
exports: give the public key to auditors for 'ceremony audit verify'.

The key is a key file, by default ceremony/audit-signing.key in the
user's config directory (never the working directory), or with --hsm
pkcs11 a key in the token. A key file that does not exist, the default
one too, is an error unless --create is given: then it is made (and the
default one's directory, mode 0700) and the command says so.`,
		Example: `  ceremony audit key --create           # the first time: makes the default key file
  ceremony audit key
  ceremony audit key --key-file /secure/audit.key
  ceremony audit key --hsm pkcs11 --pkcs11-token audit --pkcs11-pin-file audit.pin`,
		Args: noArgs,
	}
	var k signingKeyFlags
	k.register(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		out := cmd.OutOrStdout()
		s, done, err := k.signer(cmd.Context(), out)
		if err != nil {
			return err
		}
		defer done()
		fmt.Fprintf(out, "public key:  %x\nfingerprint: %s\n", []byte(s.Public()), export.Fingerprint(s.Public()))
		return nil
	}
	return cmd
}
