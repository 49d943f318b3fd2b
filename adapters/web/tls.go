package web

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"time"
)

// Certificate loads certFile and keyFile; when both are empty it loads
// the self-signed pair at selfCert and selfKey, making it on first use
// (ECDSA P-256, ten years, for localhost, the loopback addresses and the
// host's name). It returns the certificate's SHA-256 fingerprint for the
// operator to check against what the browser shows.
func Certificate(certFile, keyFile, selfCert, selfKey string) (tls.Certificate, string, bool, error) {
	made := false
	if (certFile == "") != (keyFile == "") {
		return tls.Certificate{}, "", false, errors.New("give both --tls-cert and --tls-key, or neither (a self-signed certificate is made)")
	}
	if certFile == "" {
		certFile, keyFile = selfCert, selfKey
		if _, err := os.Stat(certFile); errors.Is(err, os.ErrNotExist) {
			if err := makeSelfSigned(certFile, keyFile); err != nil {
				return tls.Certificate{}, "", false, err
			}
			made = true
		}
	}
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, "", false, fmt.Errorf("load the console's TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return c, Fingerprint(c.Certificate[0]), made, nil
}

// Fingerprint is the SHA-256 of a certificate's DER, as browsers show it.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = strings.ToUpper(hex.EncodeToString([]byte{b}))
	}
	return strings.Join(parts, ":")
}

func makeSelfSigned(certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("make the console's TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return err
	}
	names := []string{"localhost"}
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "ceremony console"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("make the console's TLS certificate: %w", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return fmt.Errorf("write the console's TLS key: %w", err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("write the console's TLS certificate: %w", err)
	}
	return nil
}

// CheckPlainHTTP refuses plain HTTP on anything but a loopback address.
func CheckPlainHTTP(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--http %q: give HOST:PORT (%v)", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--http-plain-loopback with --http %s: plain HTTP is for tests on a loopback address only (127.0.0.1:PORT); leave it out to serve HTTPS", addr)
	}
	return nil
}
