package kafka

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/cdcflow/cdcflow/pipeline"
)

// The harness's broker has neither SASL nor TLS, so these tests start kfake
// with them directly.

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestIntegrationSASL(t *testing.T) {
	const password = "pa55-Wörd-never-logged"
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(mech, "cdc", password))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			var logs syncBuffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

			good := Config{Brokers: c.ListenAddrs(), SASL: SASLConfig{Mechanism: mech, User: "cdc", Password: password}}
			p, err := New(good, log, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Close)
			if err := p.EnsureTopics(t.Context(), []string{"orders"}); err != nil {
				t.Fatalf("EnsureTopics with the right password: %v", err)
			}
			a := newAcks(1)
			p.Publish(t.Context(), Batch{Records: []pipeline.Record{{Topic: "orders", Key: []byte("k"), Value: []byte("v")}}}, a.onAck(0))
			a.wait(t)
			if a.errs[0] != nil {
				t.Fatalf("Publish with SASL %s: %v", mech, a.errs[0])
			}

			bad := good
			bad.SASL.Password = "wrong-" + password
			pb, err := New(bad, log, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pb.Close)
			// kfake drops the connection on a failed authentication (Kafka
			// answers SASL_AUTHENTICATION_FAILED, which IsRetryable rejects;
			// see TestIsRetryable), so the client keeps retrying: bound it.
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			if err = pb.EnsureTopics(ctx, []string{"orders"}); err == nil {
				t.Fatal("EnsureTopics with a wrong password succeeded")
			}
			if strings.Contains(logs.String(), password) || strings.Contains(err.Error(), password) {
				t.Errorf("the password appears in the logs or the error")
			}
		})
	}
}

func TestIntegrationTLS(t *testing.T) {
	dir := t.TempDir()
	serverTLS, caFile := selfSignedCA(t, dir)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(serverTLS))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	tests := []struct {
		name    string
		tls     TLSConfig
		wantErr bool
	}{
		{name: "trusted CA", tls: TLSConfig{Enable: true, CAFile: caFile}},
		{name: "unknown CA", tls: TLSConfig{Enable: true}, wantErr: true},
		{name: "skip verify", tls: TLSConfig{Enable: true, InsecureSkipVerify: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(Config{Brokers: c.ListenAddrs(), TLS: tt.tls}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Close)
			err = p.EnsureTopics(t.Context(), []string{"orders"})
			if (err != nil) != tt.wantErr {
				t.Fatalf("EnsureTopics over TLS = %v; want error %v", err, tt.wantErr)
			}
		})
	}
	if _, err := New(Config{Brokers: c.ListenAddrs(), TLS: TLSConfig{Enable: true, CAFile: filepath.Join(dir, "missing.pem")}}, nil, nil); err == nil {
		t.Error("New with a missing CA file succeeded")
	}
}

// selfSignedCA writes a self-signed certificate for 127.0.0.1 to dir and
// returns the server's TLS config and the certificate's PEM file.
func selfSignedCA(t *testing.T, dir string) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
	}, caFile
}
