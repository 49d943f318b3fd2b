// Command ceremony runs HSM key ceremonies on smart cards: Backup Key
// generate and load, with every step recorded as an event in an embedded
// NATS JetStream store. This file only parses the command line; the work
// is in the engine, the ceremonies and the adapters.
//
// Exit codes, stable for scripts:
//
//	0  done (the ceremony completed, or the query answered)
//	1  an error that needs a person: store, hardware, I/O
//	2  bad usage: unknown command, bad flag or value
//	3  the ceremony ended without completing (aborted, failed, void)
//	4  no such ceremony
//	5  'ceremony health': a critical finding is open
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitNotDone  = 3
	exitNotFound = 4
	exitCritical = 5
)

// usageError marks an error that is the caller's input.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// exitError carries a specific exit code.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

const usageText = `usage: ceremony <command> [flags]

Ceremonies (emulated cards from --cards-dir; software HSM):
  demo                 a full 2-of-3 Backup Key generate on three emulated cards, printed
  generate             generate a Backup Key and write it to cards, interactively
  load                 read k cards and load the Backup Key into the HSM, interactively
  resume ID            continue a ceremony that stopped (crash, timeout, closed terminal)
  abort ID             end a ceremony; --reason says why
  witness ID           record a witness's sign-off (--name, --role, optional --key-file to sign), also after the end
  hsm backup --out F   wrap the HSM's extractable keys under its Backup Key into a file (--hsm pkcs11)
  hsm restore F        unwrap a backup into an HSM loaded with the same Backup Key (--hsm pkcs11)
  user enrol           seal a PKCS#11 slot's user PIN to a key made on a card (--hsm pkcs11)
  user activate        log the slot in with the card and its PIN; OK on the PIN pad logs it out
  pin change           change the PIN of a card's backup or user slot (--slot)
  copy                 copy one card's Backup Key share one-to-one onto another card

Inspection:
  list                 every ceremony with its phase
  show ID              one ceremony's state
  events ID            one ceremony's events as a table (--json for JSON Lines)
  cards                the card registry: what each card holds, default-PIN and blocked flags
  audit verify-store   check every event's hash and every ceremony's chain in the store
  audit export --out D a signed export (JSON Lines, CSV, manifest; --from --to --ceremony --kind)
  audit verify D       verify an export offline (--public-key); audit key prints the signing key
  audit report ID      a printable HTML report of one ceremony (--out FILE.html)
  health               open findings (no outcome recorded, stalled ceremonies, quorum at risk,
                       blocked or default-PIN cards, HSM with another key); exit 5 if critical
  emulated-cards       create emulated cards (--create N) or list them
  readers              PC/SC readers, the card in each, what it holds, its retry counters (no PIN try)
  card-emulator        plug emulated cards into a vsmartcard vpcd reader of pcscd (--vpcd, --card)

Common flags (each command): --data-dir DIR (event store, default $CEREMONY_DATA_DIR
or ./ceremony-data), --sync always|relaxed. Run 'ceremony <command> -h' for its flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usageText)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmds := map[string]func(context.Context, []string, io.Reader, io.Writer) error{
		"demo":           cmdDemo,
		"generate":       cmdGenerate,
		"load":           cmdLoad,
		"resume":         cmdResume,
		"abort":          cmdAbort,
		"list":           cmdList,
		"show":           cmdShow,
		"events":         cmdEvents,
		"cards":          cmdCards,
		"emulated-cards": cmdEmulatedCards,
		"hsm":            cmdHSM,
		"user":           cmdUser,
		"pin":            cmdPIN,
		"copy":           cmdCopy,
		"health":         cmdHealth,
		"rehearse":       cmdRehearse,
		"audit":          cmdAudit,
		"witness":        cmdWitness,
		"readers":        cmdReaders,
		"card-emulator":  cmdCardEmulator,
	}
	fn, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "ceremony: unknown command %q\n\n%s", args[0], usageText)
		return exitUsage
	}
	err := fn(ctx, args[1:], stdin, stdout)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "ceremony %s: %v\n", args[0], err)
	var ue *usageError
	var ce *codeError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ce):
		return ce.code
	}
	return exitError
}
