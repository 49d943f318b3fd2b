package web

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Login by TLS client certificate, as PKI teams log in to EJBCA: with
// --client-ca the console asks for a certificate (VerifyClientCertIfGiven:
// password login still works without one), the TLS handshake checks it
// against those CAs, and POST /api/v1/login/certificate maps its subject
// to an account: the CN, else its first email or DNS name. An unknown or
// disabled account is refused; the session is then the same as a
// password login's.

// ClientCAs reads the PEM CA certificates of --client-ca.
func ClientCAs(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--client-ca: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("--client-ca %s: certificate %d: %w", file, n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("--client-ca %s holds no PEM CERTIFICATE: give the CA certificates that issue the accounts' client certificates", file)
	}
	return pool, nil
}

// RequestClientCerts sets cfg to ask for a client certificate issued by
// pool, and to accept a connection without one.
func RequestClientCerts(cfg *tls.Config, pool *x509.CertPool) {
	cfg.ClientCAs = pool
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
}

// certSubject is the account name a verified client certificate names,
// or "" when the connection has none.
func certSubject(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return ""
	}
	c := r.TLS.VerifiedChains[0][0]
	switch {
	case c.Subject.CommonName != "":
		return c.Subject.CommonName
	case len(c.EmailAddresses) > 0:
		return c.EmailAddresses[0]
	case len(c.DNSNames) > 0:
		return c.DNSNames[0]
	}
	return ""
}

func (s *Server) apiLoginCertificate(w http.ResponseWriter, r *http.Request, _ Actor) *apiError {
	name := certSubject(r)
	if name == "" {
		return &apiError{http.StatusUnauthorized, "no_certificate", "this connection has no client certificate the console accepts: log in with your password, or have your browser present a certificate from the console's --client-ca"}
	}
	role, active, ok := s.cfg.Backend.Account(name)
	if !ok {
		s.cfg.Log.Printf("web: certificate login refused: no account %q", strings.ToValidUTF8(name, "?"))
		return &apiError{http.StatusForbidden, "unknown_subject", fmt.Sprintf("your certificate names %q and no account has that name: ask an admin to add the account", name)}
	}
	if !active {
		return &apiError{http.StatusForbidden, "account_disabled", "this account is disabled: ask an admin"}
	}
	sess := s.auth.open(name)
	setSessionCookie(w, sess)
	writeJSON(w, http.StatusOK, map[string]string{"name": name, "role": role, "csrf": sess.csrf})
	return nil
}
