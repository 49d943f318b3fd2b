package jetstream

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// connectTimeout bounds the dial of each server URL.
const connectTimeout = 5 * time.Second

// connectRemote connects to the existing server or cluster of cfg.Remote,
// authenticating with its credentials file or cfg.NkeySeedFile and using
// TLS when a certificate or CA is given.
func (s *Store) connectRemote(cfg Config) error {
	r := cfg.Remote
	nc, err := dialRemote(r, cfg.NkeySeedFile, s.connOptions())
	if err != nil {
		return err
	}
	s.nc = nc
	return nil
}

// dialRemote connects to the servers of r as the user of r.CredsFile or
// nkeyFile, with extra options.
func dialRemote(r Remote, nkeyFile string, extra []nats.Option) (*nats.Conn, error) {
	if r.Replicas < 0 || r.Replicas > 5 {
		return nil, fmt.Errorf("jetstream: replicas %d: want 1-5 (JetStream's limit), or 0 for the default", r.Replicas)
	}
	for _, u := range r.URLs {
		if err := checkURL(u); err != nil {
			return nil, err
		}
	}
	opts := []nats.Option{nats.Timeout(connectTimeout)}
	switch {
	case r.CredsFile != "" && nkeyFile != "":
		return nil, fmt.Errorf("jetstream: both a credentials file and an nkey seed file: give one")
	case r.CredsFile != "":
		opts = append(opts, nats.UserCredentials(r.CredsFile))
	case nkeyFile != "":
		if _, err := readUserSeed(nkeyFile); err != nil {
			return nil, err
		}
		nkey, err := nats.NkeyOptionFromSeed(nkeyFile)
		if err != nil {
			return nil, fmt.Errorf("jetstream: nkey seed file %s: %w", nkeyFile, err)
		}
		opts = append(opts, nkey)
	}
	if (r.TLSCert == "") != (r.TLSKey == "") {
		return nil, fmt.Errorf("jetstream: a TLS client certificate needs both the certificate and its key")
	}
	if r.TLSCert != "" {
		opts = append(opts, nats.ClientCert(r.TLSCert, r.TLSKey))
	}
	if r.TLSCA != "" {
		opts = append(opts, nats.RootCAs(r.TLSCA))
	}
	nc, err := nats.Connect(strings.Join(r.URLs, ","), append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("jetstream: connect to %s: %w", strings.Join(r.URLs, ","), explainConnect(err))
	}
	return nc, nil
}

// checkURL refuses what is not a NATS server URL, naming it.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("jetstream: server URL %q: want nats://host:port or tls://host:port", raw)
	}
	switch u.Scheme {
	case "nats", "tls":
	default:
		return fmt.Errorf("jetstream: server URL %q: scheme %q, want nats or tls", raw, u.Scheme)
	}
	if u.User != nil {
		return fmt.Errorf("jetstream: server URL %q holds a user or password: give credentials in a file instead", redact(u))
	}
	return nil
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// explainConnect adds what to do to the usual connect errors.
func explainConnect(err error) error {
	switch {
	case errors.Is(err, nats.ErrNoServers):
		return fmt.Errorf("%w (is the server running and the URL right?)", err)
	case errors.Is(err, nats.ErrAuthorization):
		return fmt.Errorf("%w (check the credentials or nkey seed file)", err)
	}
	return err
}
