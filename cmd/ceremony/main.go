// Command ceremony runs HSM key ceremonies on smart cards: Backup Key
// generate and load, with every step recorded as an event in an embedded
// NATS JetStream store. This package is the command line only (one file
// per command, built with cobra); the work is in the engine, the
// ceremonies and the adapters.
//
// The commands, their flags and the exit codes are documented in the
// commands' help ('ceremony --help', the exit codes in root.go), which is
// generated into docs/cli/ by 'go run ./cmd/ceremony docs --out docs/cli'.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/ceremony-hsm/ceremony/ceremonies/secret"
)

// Exit codes: their meaning is documented once, in the root command's
// help (rootLong in root.go).
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitNotDone  = 3
	exitNotFound = 4
	exitCritical = 5
	exitAltered  = 6
)

// usageError marks an error that is the caller's input.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// codeError carries a specific exit code.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

func main() {
	// No core file and no dump of this process's memory, which holds keys,
	// shares and PINs while a ceremony runs.
	if err := secret.Harden(); err != nil {
		fmt.Fprintf(os.Stderr, "ceremony: %v\n", err)
		os.Exit(exitError)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run builds the command tree, runs the command args name and returns
// the exit code. Errors are printed once, as "ceremony <command>: <error>".
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root, st := newRoot()
	root.SetArgs(append([]string{}, args...)) // never nil: cobra would read os.Args
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil && st.bare != nil {
		err = st.bareError(stderr)
		cmd = st.bare
	}
	if err == nil {
		return exitOK
	}
	name := "ceremony"
	if cmd != nil {
		name = cmd.CommandPath()
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	var ue *usageError
	var ce *codeError
	code := exitError
	switch {
	case errors.As(err, &ue):
		code = exitUsage
	case errors.As(err, &ce):
		code = ce.code
	case !st.started:
		// cobra refused the command line before any command ran: an
		// unknown command, a bad flag or argument.
		code = exitUsage
	}
	if code == exitUsage && !st.started && st.bare == nil {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", name)
	}
	return code
}
