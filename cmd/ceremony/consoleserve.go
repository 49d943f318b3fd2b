package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/adapters/web"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/spf13/pflag"
)

// consoleFlags are the web console's flags of 'ceremony serve'.
type consoleFlags struct {
	addr     string
	tlsCert  string
	tlsKey   string
	plain    bool
	cardsDir string
	idle     time.Duration
	step     time.Duration
	clientCA string
	reader   string
	dual     []string
}

// consoleDefaultAddr is where --http alone serves the console.
const consoleDefaultAddr = "127.0.0.1:8443"

func (f *consoleFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.addr, "http", "", "serve the web console (HTTPS) on this address; --http alone: "+consoleDefaultAddr+" (loopback)")
	fs.Lookup("http").NoOptDefVal = consoleDefaultAddr
	fs.StringVar(&f.tlsCert, "tls-cert", "", "the console's certificate (PEM); without it a self-signed one is made in the data directory on first start and its SHA-256 fingerprint printed")
	fs.StringVar(&f.tlsKey, "tls-key", "", "the console's private key (PEM), with --tls-cert")
	fs.BoolVar(&f.plain, "http-plain-loopback", false, "tests only: serve the console over plain HTTP, on a loopback address only")
	fs.StringVar(&f.cardsDir, "console-cards-dir", "", "the console's emulated rehearsal cards (made if missing; default <data-dir>/console-cards)")
	fs.DurationVar(&f.idle, "idle-timeout", 15*time.Minute, "a console session nobody used for this long ends")
	fs.StringVar(&f.clientCA, "client-ca", "", "also log in by TLS client certificate: the PEM CA certificates that issue them; the certificate's subject CN (else its first email or DNS name) is the account name; password login still works")
	fs.StringVar(&f.reader, "reader", "", "with --http: the console's ceremonies run on this PC/SC reader (see 'ceremony readers'; or readers.ceremony in --config) and load into the --hsm pkcs11 token, instead of the emulated rehearsal station")
	fs.StringSliceVar(&f.dual, "dual-control", nil, "with --http: the kinds (comma-separated, e.g. backup-key-generate,backup-key-load; or dual_control in --config) whose console start waits before its first card step for a second operator's approval from their own session (ceremony.approved)")
	fs.DurationVar(&f.step, "console-step-timeout", 10*time.Minute, "the deadline of each console ceremony step that waits for a person (an operator extends it from the page)")
}

// startConsole runs the web console on the service's store: an engine
// that replays and follows the stream, and the HTTPS server. stop shuts
// both down.
func startConsole(ctx context.Context, st *jetstream.Store, dataDir string, f consoleFlags, hsm ceremonies.HSM, logw io.Writer) (func(), error) {
	if f.plain {
		if err := web.CheckPlainHTTP(f.addr); err != nil {
			return nil, usagef("%v", err)
		}
		if f.clientCA != "" {
			return nil, usagef("--client-ca with --http-plain-loopback: client certificates need HTTPS; leave out --http-plain-loopback")
		}
	}
	logger := log.New(logw, "", log.LstdFlags)
	fd := &feed{subs: map[chan web.Event]bool{}}
	o, err := openEngine(ctx, st, nil, openMode{feed: []engine.Projection{fd}})
	if err != nil {
		return nil, fmt.Errorf("console: open the event store: %w", err)
	}
	if o.cp != nil {
		debugf("console: opened from the projection checkpoint at stream sequence %d, %d events after it applied", o.cp.Seq, o.applied())
	} else {
		debugf("console: replayed the whole stream (%s)", o.why)
	}
	eng := o.eng
	a := &app{store: st, eng: eng, views: o.views}
	a.follow(ctx, logw)
	stopEngine := func() { a.stopFollow(); eng.Close() }
	cards := f.cardsDir
	if cards == "" {
		cards = filepath.Join(dataDir, "console-cards")
	}
	if f.step < time.Second {
		stopEngine()
		return nil, usagef("--console-step-timeout %s: give at least 1s (an operator extends a step from the page)", f.step)
	}
	dual, err := dualControlKinds(f.dual)
	if err != nil {
		stopEngine()
		return nil, err
	}
	station, err := openConsoleStation(f.reader, hsm, cards)
	if err != nil {
		stopEngine()
		return nil, err
	}
	con, err := newConsole(ctx, a, fd, dataDir, station, f.step, logger)
	if err != nil {
		stopEngine()
		return nil, err
	}
	con.dualControl = dual
	info := station.info()
	srv, err := web.New(web.Config{Backend: con, Station: info, IdleTimeout: f.idle, Log: logger})
	if err != nil {
		stopEngine()
		return nil, err
	}
	if info.Rehearsal {
		fmt.Fprintln(logw, "serve: the console's ceremonies are rehearsals: an emulated reader with the emulated cards of "+cards+" and an in-memory HSM (give --reader and --hsm pkcs11 for real devices)")
	} else {
		fmt.Fprintf(logw, "serve: the console's ceremonies run on the PC/SC reader %q and the HSM %s\n", info.Reader, info.HSM)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ErrorLog: logger}
	scheme := "http"
	if !f.plain {
		cert, fp, made, err := web.Certificate(f.tlsCert, f.tlsKey, filepath.Join(dataDir, "console-cert.pem"), filepath.Join(dataDir, "console-key.pem"))
		if err != nil {
			stopEngine()
			return nil, usagef("%v", err)
		}
		if made {
			fmt.Fprintf(logw, "serve: made a self-signed console certificate in %s\n", dataDir)
		}
		fmt.Fprintf(logw, "serve: console certificate SHA-256 fingerprint %s: check that your browser shows the same\n", fp)
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if f.clientCA != "" {
			pool, err := web.ClientCAs(f.clientCA)
			if err != nil {
				stopEngine()
				return nil, usagef("%v", err)
			}
			web.RequestClientCerts(hs.TLSConfig, pool)
			fmt.Fprintf(logw, "serve: console logins by client certificate from the CAs in %s, or by password\n", f.clientCA)
		}
		scheme = "https"
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		stopEngine()
		return nil, fmt.Errorf("console: listen on %s: %w", f.addr, err)
	}
	fmt.Fprintf(logw, "serve: console on %s://%s/ (exports signed by public key %s)\n", scheme, ln.Addr(), con.exportPublicKey())
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		if f.plain {
			err = hs.Serve(ln)
		} else {
			err = hs.ServeTLS(ln, "", "")
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(logw, "serve: console stopped: %v\n", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		hs.Close()
		<-done
		stopEngine()
	}, nil
}
