package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a certificate authority made in the test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

func (ca *testCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// issue makes a client certificate for subject CN cn (and an email SAN).
func (ca *testCA) issue(t *testing.T, cn, email string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if email != "" {
		tmpl.EmailAddresses = []string{email}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// certClient is a client of the console presenting cert.
func (cs *consoleSite) certClient(t *testing.T, cert *tls.Certificate) *http.Client {
	t.Helper()
	base := cs.client.Transport.(*http.Transport)
	cfg := base.TLSClientConfig.Clone()
	if cert != nil {
		// Present it whatever CAs the console names (a client of another
		// CA tries too).
		c := *cert
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Jar: jar}
}

// TestConsoleClientCertificateLogin: with --client-ca an account logs in
// by the certificate its CA issued (subject CN, else the email SAN, is the
// account name); an unknown subject, a disabled account and a certificate
// from another CA are refused; password login still works.
func TestConsoleClientCertificateLogin(t *testing.T) {
	ca := newTestCA(t, "ceremony test accounts CA")
	caFile := filepath.Join(t.TempDir(), "accounts-ca.pem")
	if err := os.WriteFile(caFile, ca.pem(), 0o644); err != nil {
		t.Fatal(err)
	}
	cs := newConsoleSite(t, "--client-ca", caFile)

	olgaCert := ca.issue(t, "olga", "")
	cl := cs.certClient(t, &olgaCert)
	code, out := cs.apiCall(t, cl, "POST", "/api/v1/login/certificate", "", map[string]string{})
	if code != http.StatusOK || out["name"] != "olga" || out["role"] != "operator" {
		t.Fatalf("certificate login as olga: %d %v", code, out["_raw"])
	}
	if code, out := cs.apiCall(t, cl, "GET", "/api/v1/ceremonies", "", nil); code != http.StatusOK {
		t.Fatalf("olga's certificate session: %d %v", code, out["_raw"])
	}
	// An operator's start through the certificate session names her.
	if code, out := cs.apiCall(t, cl, "POST", "/api/v1/ceremonies", out["csrf"].(string), map[string]any{"kind": "backup-key-generate"}); code != http.StatusCreated {
		t.Fatalf("start through the certificate session: %d %v", code, out["_raw"])
	} else if ev := cs.eventsOf(t, out["id"].(string)); !strings.Contains(ev, `"operator":"olga"`) {
		t.Fatalf("the start does not name the certificate's account:\n%s", ev)
	}

	// No CN: the email SAN names the account.
	alanCert := ca.issue(t, "", "alan")
	if code, out := cs.apiCall(t, cs.certClient(t, &alanCert), "POST", "/api/v1/login/certificate", "", map[string]string{}); code != http.StatusOK || out["role"] != "auditor" {
		t.Errorf("certificate login by the email SAN: %d %v", code, out["_raw"])
	}

	// An unknown subject is refused, naming it.
	mallory := ca.issue(t, "mallory", "")
	if code, out := cs.apiCall(t, cs.certClient(t, &mallory), "POST", "/api/v1/login/certificate", "", map[string]string{}); code != http.StatusForbidden || out["code"] != "unknown_subject" || !strings.Contains(out["message"].(string), `"mallory"`) {
		t.Errorf("an unknown subject: %d %v", code, out["_raw"])
	}
	// A certificate of another CA does not get through the handshake.
	other := newTestCA(t, "another CA").issue(t, "olga", "")
	req, _ := http.NewRequest("POST", cs.url+"api/v1/login/certificate", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := cs.certClient(t, &other).Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("a certificate of another CA: %d, want the TLS handshake refused", resp.StatusCode)
	}
	// No certificate: the certificate login says what to do; the password works.
	none := cs.certClient(t, nil)
	if code, out := cs.apiCall(t, none, "POST", "/api/v1/login/certificate", "", map[string]string{}); code != http.StatusUnauthorized || out["code"] != "no_certificate" {
		t.Errorf("certificate login without a certificate: %d %v", code, out["_raw"])
	}
	if code, out := cs.apiCall(t, none, "POST", "/api/v1/login", "", map[string]string{"name": "wendy", "password": cs.passwords["wendy"]}); code != http.StatusOK {
		t.Errorf("password login with --client-ca: %d %v", code, out["_raw"])
	}
	// A disabled account's certificate is refused.
	if code, out := cs.runCLI(t, "account", "disable", "dave"); code != exitOK {
		t.Fatalf("account disable: exit %d\n%s", code, out)
	}
	daveCert := ca.issue(t, "dave", "")
	waitUntil(t, "the service sees dave disabled", func() bool {
		code, out := cs.apiCall(t, cs.certClient(t, &daveCert), "POST", "/api/v1/login/certificate", "", map[string]string{})
		return code == http.StatusForbidden && out["code"] == "account_disabled"
	})
	// --client-ca needs HTTPS.
	if code, out := cs.runBare(t, "serve", "--data-dir", filepath.Join(t.TempDir(), "plain"), "--http=127.0.0.1:0", "--http-plain-loopback", "--client-ca", caFile); code != exitUsage || !strings.Contains(out, "client certificates need HTTPS") {
		t.Errorf("--client-ca with plain HTTP: exit %d\n%s", code, out)
	}
}
