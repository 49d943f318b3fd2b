package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/passwords"
	"github.com/ceremony-hsm/ceremony/ceremonies/account"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/spf13/cobra"
)

// passwordDBName is the console's password file in the data directory.
const passwordDBName = "console-passwords.json"

// accountFlags are the flags of the account commands.
type accountFlags struct {
	c            *common
	passwordDB   string
	passwordFile string
}

func (f *accountFlags) register(cmd *cobra.Command, withPassword bool) {
	f.c = storeFlags(cmd)
	cmd.Flags().StringVar(&f.passwordDB, "password-db", "", "the console's password hash file (default <data-dir>/"+passwordDBName+")")
	if withPassword {
		cmd.Flags().StringVar(&f.passwordFile, "password-file", "", "read the password from this file (default: standard input); never give it as a flag value")
	}
}

// db returns the password file: --password-db, else the data directory's.
func (f *accountFlags) db() (*passwords.File, error) {
	if f.passwordDB != "" {
		return passwords.Open(f.passwordDB), nil
	}
	if len(f.c.nats.urls) > 0 {
		return nil, usagef("with --nats give --password-db FILE: the password hashes are kept on this station, never in the event store")
	}
	f.c.resolveDataDir()
	return passwords.Open(filepath.Join(f.c.dataDir, passwordDBName)), nil
}

// password reads the password: the first line of --password-file or of
// standard input.
func (f *accountFlags) password(in io.Reader) ([]byte, error) {
	if f.passwordFile != "" {
		fh, err := os.Open(f.passwordFile)
		if err != nil {
			return nil, usagef("--password-file: %v", err)
		}
		defer fh.Close()
		in = fh
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read the password: %w", err)
	}
	pw := []byte(strings.TrimRight(line, "\r\n"))
	if len(pw) < passwords.MinLength {
		return nil, usagef("the password has %d characters: give at least %d, on standard input or in --password-file", len(pw), passwords.MinLength)
	}
	return pw, nil
}

// localActor names who ran an account command on the station.
func localActor() string {
	if u, err := user.Current(); err == nil {
		return "station:" + u.Username
	}
	return "station"
}

func newAccountCmd() *cobra.Command {
	return group("account", "Console accounts and roles (admin, operator, witness, auditor), recorded as events",
		`Manage the web console's accounts. Each account has one role: admin
(manages accounts only), operator (starts, drives and aborts ceremonies),
witness (signs ceremonies off) or auditor (reads, exports, reports,
changes nothing). Creating an account and changing its role, status or
password are events (account.changed, an account-change ceremony of one
event), so the audit trail shows who could act when. Passwords are hashed
with argon2id into the password file next to the event store (mode 0600);
neither a password nor its hash is ever in an event.`,
		newAccountAddCmd(), newAccountListCmd(), newAccountChangeCmd("disable", account.Disabled),
		newAccountChangeCmd("enable", account.Enabled), newAccountPasswdCmd(), newAccountRoleCmd())
}

func newAccountAddCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "add NAME",
		Short:   "Add an account with its role; the password comes from standard input or --password-file",
		Example: `  printf '%s\n' "$PASSWORD" | ceremony account add alice --role operator`,
		Args:    oneArg("one account name"),
	}
	var f accountFlags
	f.register(cmd, true)
	role := cmd.Flags().String("role", "", "the account's role: "+strings.Join(account.Roles, ", ")+" (required)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runAccountChange(cmd.Context(), &f, account.Created, args[0], *role, cmd.InOrStdin(), cmd.OutOrStdout())
	}
	return cmd
}

func newAccountRoleCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "role NAME ROLE", Short: "Change an account's role", Args: cobra.ExactArgs(2)}
	var f accountFlags
	f.register(cmd, false)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runAccountChange(cmd.Context(), &f, account.RoleChanged, args[0], args[1], nil, cmd.OutOrStdout())
	}
	return cmd
}

func newAccountChangeCmd(use, change string) *cobra.Command {
	cmd := &cobra.Command{Use: use + " NAME", Short: strings.ToUpper(use[:1]) + use[1:] + " an account (its sessions end at their next request)", Args: oneArg("one account name")}
	var f accountFlags
	f.register(cmd, false)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runAccountChange(cmd.Context(), &f, change, args[0], "", nil, cmd.OutOrStdout())
	}
	return cmd
}

func newAccountPasswdCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "passwd NAME", Short: "Set an account's password, from standard input or --password-file", Args: oneArg("one account name")}
	var f accountFlags
	f.register(cmd, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runAccountChange(cmd.Context(), &f, account.PasswordChanged, args[0], "", cmd.InOrStdin(), cmd.OutOrStdout())
	}
	return cmd
}

// runAccountChange records one account change; a password (add, passwd)
// is read and hashed first, and stored only once the event is.
func runAccountChange(ctx context.Context, f *accountFlags, change, name, role string, in io.Reader, out io.Writer) error {
	db, err := f.db()
	if err != nil {
		return err
	}
	var pw []byte
	if in != nil {
		if pw, err = f.password(in); err != nil {
			return err
		}
		defer wipeBytes(pw)
	}
	a, err := f.c.open(ctx, out)
	if err != nil {
		return err
	}
	a.writer, a.out = true, out // a checkpoint of the change at close
	defer a.close()
	ev, err := account.New(a.views.Accounts, change, name, role, localActor())
	if err != nil {
		return usageOf(err)
	}
	if pw != nil {
		if err := db.Set(name, pw); err != nil {
			return err
		}
	}
	id := "account-" + engine.RandomID()[:8]
	if _, err := a.eng.Start(ctx, account.Kind, id, events.SourceOperator, ev); err != nil {
		return fmt.Errorf("record the account change of %s: %w", name, err)
	}
	fmt.Fprintf(out, "Account %s: %s (role %s, active %v), recorded as %s.\n", name, change, ev.Role, ev.Active, id)
	return nil
}

func wipeBytes(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

func newAccountListCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List the accounts with their role and status", Args: noArgs}
	c := storeFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		out := cmd.OutOrStdout()
		a, err := c.open(cmd.Context(), out)
		if err != nil {
			return err
		}
		defer a.close()
		tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tSTATUS\tSINCE")
		for _, acc := range a.views.Accounts.List() {
			status := "active"
			if !acc.Active {
				status = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", acc.Name, acc.Role, status, acc.Changed.Format(time.RFC3339))
		}
		return tw.Flush()
	}
	return cmd
}
