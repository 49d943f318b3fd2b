package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// rootLong is the root command's help. It is the one place that documents
// the exit codes (docs/cli/ceremony.md is generated from it).
const rootLong = `ceremony runs HSM key ceremonies on smart cards. A Backup Key is
generated, split k-of-n onto cards and loaded into an HSM; it is loaded
again from any k cards, its shares are copied to spare cards, and it
wraps the HSM's keys for backup and restore. User cards unlock a PKCS#11
slot. Every step is recorded as an event in an embedded event store, the
one record of what happened: a ceremony stopped by a crash, a timeout or
a closed terminal is resumed from it.

The commands that open the event store take --data-dir (default
$CEREMONY_DATA_DIR, else ./ceremony-data) and --sync always|relaxed; a
'ceremony serve' running on that directory is used, so that several
commands can work at once. --nats URL uses an existing NATS cluster.
Ceremonies run on a PC/SC reader (--reader) or on emulated cards
(--cards-dir, see 'ceremony emulated-cards'), with an in-memory software
HSM (--hsm soft, for rehearsals) or a PKCS#11 token (--hsm pkcs11).

Exit codes, stable for scripts:

    0  done: the ceremony completed, or the query answered
    1  an error that needs a person: store, hardware, I/O
    2  bad usage: unknown command, bad flag, argument or value
    3  the ceremony ended without completing (aborted, failed, void)
    4  no such ceremony
    5  'ceremony health': a critical finding is open
    6  an audit check failed: 'audit verify' or 'audit verify-store'
       found a changed, missing or unsigned record, or the event store's
       history does not match its signed checkpoints (any command)`

// Command groups of the root help.
const (
	groupCeremonies = "ceremonies"
	groupInspect    = "inspect"
	groupCards      = "cards"
)

// runState is what run learns from a command line's execution.
type runState struct {
	started bool           // a command's body began: flags and arguments were accepted
	bare    *cobra.Command // a command group named without a (known) subcommand
}

// newRoot builds the command tree. Each call builds a new one, with its
// own flag values, so run can be called again (the tests do).
func newRoot() (*cobra.Command, *runState) {
	st := &runState{}
	root := &cobra.Command{
		Use:   "ceremony",
		Short: "Run HSM key ceremonies on smart cards, every step recorded as an event",
		Long:  rootLong,
		Example: `  ceremony demo                      # a whole 2-of-3 generate on emulated cards
  ceremony emulated-cards --create 3
  ceremony generate --operator alice --quorum 2-of-3
  ceremony list
  ceremony show gen-1a2b3c4d`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			st.started = true
			if err := checkText(cmd, args); err != nil {
				return err
			}
			return applyConfig(cmd)
		},
	}
	root.PersistentFlags().String(configFlag, "", "station config file (YAML, see 'ceremony config example'): the store, readers, HSM, PIN source, step timeout and backup directory; flags given win")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{err.Error()}
	})
	// A group ("ceremony", "ceremony hsm") is not runnable: cobra shows
	// its help, with exit 0, when it is named alone or with an unknown
	// subcommand. Unless the help was asked for, that is bad usage.
	help := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		if c.HasAvailableSubCommands() && !c.Runnable() && c.Flags().Parsed() {
			if f := c.Flags().Lookup("help"); f == nil || !f.Changed {
				st.bare = c
				return
			}
		}
		help(c, args)
	})
	root.AddGroup(
		&cobra.Group{ID: groupCeremonies, Title: "Ceremonies:"},
		&cobra.Group{ID: groupInspect, Title: "Inspection and audit:"},
		&cobra.Group{ID: groupCards, Title: "Cards, readers and drills:"},
	)
	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add(groupCeremonies, newDemoCmd())
	addStartCmds(root, groupCeremonies)
	add(groupCeremonies, newResumeCmd(), newAbortCmd(), newWitnessCmd(), newHSMCmd(), newScriptCmd())
	add(groupCeremonies, newServeCmd(), newAccountCmd(), newStoreCmd(), newConfigCmd())
	add(groupInspect, newListCmd(), newShowCmd(), newEventsCmd(), newCardsCmd(), newHealthCmd(), newAuditCmd())
	add(groupCards, newEmulatedCardsCmd(), newReadersCmd(), newCardEmulatorCmd(), newRehearseCmd())
	root.AddCommand(newDocsCmd())
	return root, st
}

// bareError is the error of a group named without a known subcommand.
func (st *runState) bareError(stderr io.Writer) error {
	c := st.bare
	if args := c.Flags().Args(); len(args) > 0 {
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if c.SuggestionsMinimumDistance <= 0 {
			c.SuggestionsMinimumDistance = 2 // as cobra does for the root
		}
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return usagef("%s ('%s --help' lists the commands)", msg, c.CommandPath())
	}
	if !c.HasParent() {
		fmt.Fprint(stderr, c.UsageString())
		return usagef("give a command (listed above)")
	}
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return usagef("give a command: %s ('%s --help' says more)", strings.Join(names, ", "), c.CommandPath())
}

// group is a command that only holds subcommands.
func group(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Long: long}
	c.AddCommand(subs...)
	return c
}

// noArgs refuses positional arguments.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("takes no arguments, got %q", args)
	}
	return nil
}

// ceremonyArg wants one ceremony id.
func ceremonyArg(_ *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usagef("give one ceremony id ('ceremony list' shows them)%s", gotArgs(args))
	}
	return nil
}

// oneArg wants one positional argument, what.
func oneArg(what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usagef("give %s%s", what, gotArgs(args))
		}
		return nil
	}
}

// gotArgs says which arguments a command got, if any.
func gotArgs(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return fmt.Sprintf(", not %d arguments %q", len(args), args)
}
