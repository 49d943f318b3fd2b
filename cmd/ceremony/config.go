package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ceremony-hsm/ceremony/adapters/pcsc"
	"github.com/ceremony-hsm/ceremony/adapters/pkcs11hsm"
	"github.com/ceremony-hsm/ceremony/internal/stationconfig"
	"github.com/spf13/cobra"
)

// newConfigCmd builds "config": the station config file's checks and
// example (README.md, "Station config file").
func newConfigCmd() *cobra.Command {
	return group("config", "Check the station config file (--config) before the day, or print an example",
		`The station config file (--config FILE, on every command) holds what
operators would otherwise retype: the event store, the readers, the HSM
and the source of its PIN, the step timeout and the backup directory.
Flags given on the command line win; the file fills the rest.`,
		newConfigCheckCmd(), newConfigExampleCmd())
}

func newConfigExampleCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "example",
		Short: "Print an example station config file, every key explained",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(stationconfig.Example)
			return err
		},
	}
}

func newConfigCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a station config file: keys, files and their modes, the PKCS#11 module, the readers",
		Long: `Validate a station config file before the day, touching nothing: unknown
keys, values of the wrong type and a PIN written into the file are errors
naming the line; the files it names must exist, and credentials and the
PIN file must be readable by their owner only (chmod 600); the PKCS#11
module is loaded and the token looked for (no session, no login); the
readers it lists are reported present or absent when pcscd answers (a
warning, not an error). Exit 0 when nothing is wrong (warnings allowed),
2 when the file itself is wrong, 1 when what it names is.`,
		Example: `  ceremony config example > station.yaml
  ceremony config check station.yaml
  ceremony list --config station.yaml`,
		Args: oneArg("the station config file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return checkConfig(args[0], cmd.OutOrStdout())
		},
	}
}

// checkConfig prints what it finds in file, one line each, as
// "FILE:LINE: error|warning: KEY: what".
func checkConfig(file string, out io.Writer) error {
	cfg, err := stationconfig.Load(file)
	if err != nil {
		var errs stationconfig.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				fmt.Fprintf(out, "%s:%d: error: %s\n", e.File, e.Line, e.Msg)
			}
			return usagef("%s: %d errors in the file: fix them and check again", file, len(errs))
		}
		return usagef("%v", err)
	}
	findings := cfg.Check(os.LookupEnv)
	if h := cfg.HSM; h.Kind == "pkcs11" {
		f := stationconfig.Finding{Line: cfg.Line("hsm"), Key: "hsm"}
		if label, serial, err := pkcs11hsm.Probe(pkcs11hsm.Config{Module: h.Module, Token: h.Token}); err != nil {
			f.Severity, f.Msg = stationconfig.Problem, err.Error()
		} else {
			f.Msg = fmt.Sprintf("the PKCS#11 module loads and holds token %q (serial %s)", label, serial)
		}
		findings = append(findings, f)
	}
	findings = append(findings, checkReaders(cfg)...)
	count := map[stationconfig.Severity]int{}
	for _, f := range findings {
		fmt.Fprintf(out, "%s:%d: %s: %s: %s\n", file, f.Line, f.Severity, f.Key, f.Msg)
		count[f.Severity]++
	}
	if n := count[stationconfig.Problem]; n > 0 {
		return fmt.Errorf("%s: %d problems with what the file names (%d warnings): fix them and check again", file, n, count[stationconfig.Warning])
	}
	fmt.Fprintf(out, "%s: ready for the day (%d warnings)\n", file, count[stationconfig.Warning])
	return nil
}

// checkReaders says whether pcscd sees the readers the file lists. Not
// reaching pcscd is a warning: the check may run on another machine.
func checkReaders(cfg *stationconfig.Config) []stationconfig.Finding {
	type named struct{ key, name string }
	var want []named
	if r := cfg.Readers.Ceremony; r != "" {
		want = append(want, named{"readers.ceremony", r})
	}
	for i, r := range cfg.Readers.Spare {
		want = append(want, named{fmt.Sprintf("readers.spare.%d", i), r})
	}
	if len(want) == 0 {
		return nil
	}
	warn := func(key, format string, a ...any) stationconfig.Finding {
		return stationconfig.Finding{Severity: stationconfig.Warning, Line: cfg.Line(key), Key: key, Msg: fmt.Sprintf(format, a...)}
	}
	readers, err := pcsc.Readers()
	if err != nil {
		return []stationconfig.Finding{warn("readers", "readers not checked: %v", err)}
	}
	seen := map[string]bool{}
	var names []string
	for _, r := range readers {
		seen[r.Name] = true
		names = append(names, fmt.Sprintf("%q", r.Name))
	}
	var out []stationconfig.Finding
	for _, w := range want {
		if seen[w.name] {
			out = append(out, stationconfig.Finding{Severity: stationconfig.OK, Line: cfg.Line(w.key), Key: w.key, Msg: fmt.Sprintf("%q is present", w.name)})
			continue
		}
		out = append(out, warn(w.key, "%q is absent: pcscd sees %d readers %v; plug it in, or fix the name ('ceremony readers' lists them)", w.name, len(names), names))
	}
	return out
}
