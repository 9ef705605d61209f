package client

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
)

func tlsConfig(addr string, opts Options) *tls.Config {
	cfg := &tls.Config{
		// xmrig verifies neither chain nor host name; a pin is the only check.
		InsecureSkipVerify: true, //nolint:gosec // deliberate, see above
	}
	if opts.SNI {
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
	}
	if pin := strings.ReplaceAll(opts.TLSFingerprint, ":", ""); pin != "" {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrFingerprint
			}
			return checkFingerprint(cs.PeerCertificates[0], pin)
		}
	}
	return cfg
}

func checkFingerprint(cert *x509.Certificate, pin string) error {
	sum := sha256.Sum256(cert.Raw)
	if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, pin) {
		return fmt.Errorf("%w: got %s, want %s", ErrFingerprint, got, strings.ToLower(pin))
	}
	return nil
}

// Fingerprint is the xmrig tls-fingerprint of cert: SHA-256 of its DER.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}
