package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Certs are a certificate authority made for one test and a server
// certificate it signed for 127.0.0.1 and localhost, as PEM files in a
// temporary directory, for a TLS redis-server (WithTLS).
type Certs struct {
	CAFile, CertFile, KeyFile string
	// Pool trusts the CA: a client's tls.Config.RootCAs.
	Pool *x509.CertPool
}

// NewCerts generates a CA and a server certificate it signed, valid for an
// hour.
func NewCerts(tb testing.TB) *Certs {
	tb.Helper()
	dir := tb.TempDir()
	fail := func(err error) {
		if err != nil {
			tb.Fatalf("redistest: certificates: %v", err)
		}
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fail(err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redistest CA"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	fail(err)
	ca, err := x509.ParseCertificate(caDER)
	fail(err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fail(err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "redistest"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature,
		// Client auth too: redis-server presents it on its own outgoing
		// TLS links (replication, the cluster bus).
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	fail(err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	fail(err)
	c := &Certs{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"), Pool: x509.NewCertPool()}
	c.Pool.AddCert(ca)
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{c.CAFile, "CERTIFICATE", caDER}, {c.CertFile, "CERTIFICATE", der}, {c.KeyFile, "PRIVATE KEY", keyDER}} {
		fail(os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600))
	}
	return c
}

// WithTLS makes the server also listen for TLS (TLSAddr) with certs; a
// client needs no certificate of its own. The plain port stays for the
// harness (the readiness PING, Cluster's checks).
func WithTLS(certs *Certs) Option {
	return func(o *options) { o.tls = certs }
}

func (o *options) tlsArgs(tlsPort int) []string {
	if o.tls == nil {
		return nil
	}
	return []string{"--tls-port", itoa(tlsPort), "--tls-cert-file", o.tls.CertFile, "--tls-key-file", o.tls.KeyFile,
		"--tls-ca-cert-file", o.tls.CAFile, "--tls-auth-clients", "no"}
}

// TLSAddr is the server's TLS address, "127.0.0.1:port" (WithTLS).
func (s *Server) TLSAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.tls == nil {
		s.tb.Fatal("redistest: TLSAddr of a server started without WithTLS")
	}
	return net.JoinHostPort("127.0.0.1", itoa(s.tlsPort))
}

// SetUser creates or changes an ACL user (ACL SETUSER name on >password
// rules...), over the plain port as the default user.
func (s *Server) SetUser(name, password string, rules ...string) {
	s.tb.Helper()
	args := append([]string{"ACL", "SETUSER", name, "reset", "on", ">" + password}, rules...)
	if _, err := command(s.Addr(), args...); err != nil {
		s.tb.Fatalf("redistest: ACL SETUSER %s: %v", name, err)
	}
}
