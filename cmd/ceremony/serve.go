package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/spf13/cobra"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the event store of a data directory to the other commands on this machine",
		Long: `Run the station service: it owns the event store of --data-dir (the
embedded NATS server, listening on loopback only) so that several
commands can use the store at once: a ceremony at a prompt in one
terminal, and list, show, events, health, cards, witness, abort and
audit in others.

The service writes a user nkey seed (serve.nk, mode 0600) and a service
file (serve.json: URL, seed file, pid) into the data directory. Every
other command given that data directory reads the service file and
connects as a client with that seed; the server lets that user use the
event store's subjects and nothing else. The service runs an engine
that follows the stream, and writes the projection checkpoint that list,
cards and health start from (--checkpoint-events). On SIGTERM or SIGINT
the service writes a last checkpoint, removes the service file and shuts
the server down in order.
It logs to stderr; dist/ceremony.service is a systemd unit for it.

The service writes the signed checkpoints of the stream into the data
directory's checkpoints/: at start, after every event that ends a
ceremony, every minute while events arrive and at shutdown. They are
signed by the key recorded there with the first one: the audit key file,
or with --hsm pkcs11 the token's audit key (made there on first use).
With --backup-dir it backs the store up after every completed ceremony
it sees, as the start commands do.

With --http the service also serves the web console over HTTPS (a
certificate given with --tls-cert and --tls-key, or a self-signed one
made in the data directory on first start, whose SHA-256 fingerprint it
prints): accounts made with 'ceremony account add' log in; operators run
ceremonies from the page, witnesses sign off, auditors watch, report and
export. The JSON API is under /api/v1/. Without --reader the console's
station is a rehearsal one (an emulated reader, emulated cards inserted
from the page, an in-memory HSM), marked so on every page and report.
With --reader (or readers.ceremony in --config) and --hsm pkcs11 its
ceremonies run on that PC/SC reader, one at a time, and load into that
token (its PIN from --pkcs11-pin-file or --pkcs11-pin-env): the cards go
into the reader by hand; on a reader without its own PIN pad the PINs
are typed in the page's PIN pad and sent over TLS to the service, never
logged or stored; on a class-3 reader they are typed on the reader.`,
		Example: `  ceremony serve --data-dir /var/lib/ceremony
  ceremony serve --data-dir ceremony-data --listen 127.0.0.1:4250
  ceremony serve --data-dir ceremony-data --http
  ceremony serve --data-dir ceremony-data --http --reader "REINER SCT cyberJack RFID komfort 00 00" \
      --hsm pkcs11 --pkcs11-module /usr/lib/softhsm/libsofthsm2.so --pkcs11-token ceremony --pkcs11-pin-file token.pin`,
		Args: noArgs,
	}
	c := &common{flags: cmd.Flags()}
	cmd.Flags().StringVar(&c.dataDir, "data-dir", "", "event store directory (default $"+dataDirEnv+", else ./"+defaultDataDir+")")
	syncFlag(cmd.Flags(), &c.sync)
	listen := cmd.Flags().String("listen", "127.0.0.1:0", "loopback address and port for the clients (port 0: any free port; the service file names it)")
	every := cmd.Flags().Uint64("checkpoint-events", 1000, "write the projection checkpoint (what list, cards and health start from) after this many new events, and at least every 30 s while events arrive")
	var cf consoleFlags
	cf.register(cmd.Flags())
	var hf hsmFlags // the HSM whose audit key signs the checkpoints
	hf.register(cmd.Flags())
	var bf backupFlags
	bf.register(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *every == 0 {
			return usagef("--checkpoint-events 0: give 1 or more")
		}
		backup, err := bf.autoBackup(prefixed{cmd.ErrOrStderr()})
		if err != nil {
			return err
		}
		return runServe(cmd.Context(), c, *listen, *every, cf, &hf, backup, cmd.ErrOrStderr())
	}
	return cmd
}

func runServe(ctx context.Context, c *common, listen string, every uint64, cf consoleFlags, hf *hsmFlags, backup *autoBackup, log io.Writer) error {
	cfg, _, err := c.storeConfig(log)
	if err != nil {
		return err
	}
	dual, err := dualControlNames(cf.dual)
	if err != nil {
		return err
	}
	if svc, err := readService(c.dataDir); err != nil {
		return err
	} else if svc != nil && svc.alive() {
		return fmt.Errorf("a service already serves %s: pid %d on %s, since %s", c.dataDir, svc.PID, svc.URL, svc.Started.Format(time.RFC3339))
	}
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("create the data directory: %w", err)
	}
	seed, err := filepath.Abs(filepath.Join(c.dataDir, serviceSeed))
	if err != nil {
		return err
	}
	made, err := jetstream.CreateNkeySeed(seed)
	if err != nil {
		return err
	}
	if made {
		fmt.Fprintf(log, "serve: made the clients' nkey seed %s (0600)\n", seed)
	}
	cfg.Listen, cfg.NkeySeedFile = listen, seed
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	st, err := jetstream.Open(octx, cfg)
	cancel()
	if errors.Is(err, jetstream.ErrDamaged) {
		return damaged("in "+c.dataDir, err)
	}
	if err != nil {
		return fmt.Errorf("open the event store in %s: %w%s", c.dataDir, err, checkAdvice(err))
	}
	svc := service{URL: st.ClientURL(), NkeyFile: seed, PID: os.Getpid(), Started: time.Now().UTC(), Sync: st.Sync().String(), DualControl: dual}
	if err := writeService(c.dataDir, svc); err != nil {
		return errors.Join(err, st.Close())
	}
	fmt.Fprintf(log, "serve: event store %s (stream %s, sync %s) on %s, pid %d; clients find it through %s\n",
		c.dataDir, st.StreamName(), st.Sync(), svc.URL, svc.PID, servicePath(c.dataDir))

	// One session of the --hsm pkcs11 token for the service (a module
	// opens a token once per process): its audit key signs the
	// checkpoints, and the console's ceremonies on a PC/SC reader load
	// into it.
	hsm, closeHSM, err := serveHSM(ctx, hf)
	if err != nil {
		return errors.Join(err, os.Remove(servicePath(c.dataDir)), st.Close())
	}
	defer closeHSM()
	stopCheckpoints, err := serveCheckpoints(ctx, st, c.dataDir, hsm, backup, log)
	if err != nil {
		return errors.Join(err, os.Remove(servicePath(c.dataDir)), st.Close())
	}
	stopEngine, err := startServeEngine(ctx, st, every, log)
	if err != nil {
		stopCheckpoints()
		return errors.Join(err, os.Remove(servicePath(c.dataDir)), st.Close())
	}
	stopConsole := func() {}
	if cf.addr != "" {
		if stopConsole, err = startConsole(ctx, st, c.dataDir, cf, hsm, log); err != nil {
			stopEngine()
			stopCheckpoints()
			return errors.Join(err, os.Remove(servicePath(c.dataDir)), st.Close())
		}
	}

	<-ctx.Done()
	stopConsole()
	stopEngine()
	stopCheckpoints()
	fmt.Fprintln(log, "serve: stopping: removing the service file, then shutting the server down")
	rerr := os.Remove(servicePath(c.dataDir))
	if rerr != nil {
		rerr = fmt.Errorf("remove the service file: %w", rerr)
	}
	if err := errors.Join(rerr, st.Close()); err != nil {
		return err
	}
	fmt.Fprintln(log, "serve: stopped")
	return nil
}

// serveHSM opens the service's HSM: with --hsm pkcs11 the token (its PIN
// from --pkcs11-pin-file or --pkcs11-pin-env: the service asks nobody),
// else none (nil): the audit key file signs the checkpoints and the
// console's rehearsal station has its in-memory HSMs.
func serveHSM(ctx context.Context, hf *hsmFlags) (ceremonies.HSM, func(), error) {
	switch hf.kind {
	case "pkcs11":
		return hf.open(ctx, nil)
	case "soft":
		return nil, func() {}, nil
	default:
		return nil, nil, usagef("--hsm %q: use soft (the audit key file signs the checkpoints) or pkcs11", hf.kind)
	}
}
