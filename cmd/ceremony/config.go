package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
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
warning, not an error); the NATS servers it names are connected to with
its credentials and TLS files, JetStream must answer, and an existing
stream must have the settings the store needs (nothing is created; a
server older than 2.12.3 or a replica offline or behind is a warning);
the kinds under dual_control must be kinds this build starts. Exit 0 when nothing is wrong (warnings allowed),
2 when the file itself is wrong, 1 when what it names is.`,
		Example: `  ceremony config example > station.yaml
  ceremony config check station.yaml
  ceremony list --config station.yaml`,
		Args: oneArg("the station config file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return checkConfig(cmd.Context(), args[0], cmd.OutOrStdout())
		},
	}
}

// checkConfig prints what it finds in file, one line each, as
// "FILE:LINE: error|warning: KEY: what".
func checkConfig(ctx context.Context, file string, out io.Writer) error {
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
	findings = append(findings, checkDualControl(cfg)...)
	findings = append(findings, checkNATS(ctx, cfg)...)
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

// natsCheckTimeout bounds the connection to the NATS servers and the
// questions 'config check' asks them.
const natsCheckTimeout = 15 * time.Second

// checkNATS connects to the NATS servers the file names, with its
// credentials and TLS files, and checks that JetStream answers and that
// an existing stream has our settings (jetstream.ProbeRemote). Nothing is
// created on the servers.
func checkNATS(ctx context.Context, cfg *stationconfig.Config) []stationconfig.Finding {
	n := cfg.Store.NATS
	if len(n.URLs) == 0 {
		return nil
	}
	const key = "store.nats"
	finding := func(sev stationconfig.Severity, format string, a ...any) stationconfig.Finding {
		return stationconfig.Finding{Severity: sev, Line: cfg.Line(key), Key: key, Msg: fmt.Sprintf(format, a...)}
	}
	ctx, cancel := context.WithTimeout(ctx, natsCheckTimeout)
	defer cancel()
	r, err := jetstream.ProbeRemote(ctx, jetstream.Config{NkeySeedFile: n.Nkey, Remote: jetstream.Remote{
		URLs: n.URLs, CredsFile: n.Creds, TLSCert: n.TLSCert, TLSKey: n.TLSKey, TLSCA: n.TLSCA, Replicas: n.Replicas,
	}})
	var out []stationconfig.Finding
	if r.Server != "" {
		where := "alone"
		if r.Cluster != "" {
			where = fmt.Sprintf("in cluster %s of %d servers", r.Cluster, r.Servers)
		}
		out = append(out, finding(stationconfig.OK, "connected to %s (nats-server %s, %s)", r.Server, r.Version, where))
	}
	for _, w := range r.Warnings {
		out = append(out, finding(stationconfig.Warning, "%s", w))
	}
	switch {
	case err != nil:
		out = append(out, finding(stationconfig.Problem, "%v", err))
	case !r.Exists:
		out = append(out, finding(stationconfig.OK, "stream %s does not exist yet: the first command creates it (replicas: %d)", r.Stream, r.Replicas))
	default:
		leader := ""
		if r.Leader != "" && r.Cluster != "" {
			leader = ", leader " + r.Leader
		}
		out = append(out, finding(stationconfig.OK, "stream %s has the settings the store needs (replicas: %d%s)", r.Stream, r.Replicas, leader))
	}
	return out
}

// checkDualControl checks that dual_control names kinds this build starts.
func checkDualControl(cfg *stationconfig.Config) []stationconfig.Finding {
	if len(cfg.DualControl) == 0 {
		return nil
	}
	f := stationconfig.Finding{Line: cfg.Line("dual_control"), Key: "dual_control"}
	if names, err := dualControlNames(cfg.DualControl); err != nil {
		f.Severity, f.Msg = stationconfig.Problem, strings.TrimPrefix(err.Error(), "--dual-control ")
	} else {
		f.Msg = "a console start of " + strings.Join(names, ", ") + " waits for a second operator's approval"
	}
	return []stationconfig.Finding{f}
}
