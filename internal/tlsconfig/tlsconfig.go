// Package tlsconfig builds the TLS client configurations of cdcflow's
// connections (Kafka, Redis) from file names, the way the configuration
// file names them. It does no I/O beyond reading those files, starts no
// goroutines and exports no metrics.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Client returns a TLS 1.2+ client configuration that trusts the
// certificates in caFile (the system roots when it is empty) and presents
// the certificate in certFile with the key in keyFile when certFile is set.
// insecure skips verifying the server's certificate (for tests only).
func Client(caFile, certFile, keyFile string, insecure bool) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure} //nolint:gosec // opt-in, documented as for tests
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("read CA file %q: no PEM certificate found", caFile)
		}
		tc.RootCAs = pool
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
