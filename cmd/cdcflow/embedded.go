package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/services"
)

// brokerAddrFile, in the embedded broker's directory (<data_dir>/kafka),
// holds the address `cdcflow run` serves it on. The next start takes the
// same port, so a kcat line from yesterday still works, and `materialize`
// and `replay` with no kafka.brokers read it to find the broker of a run
// beside them on the same data directory.
const brokerAddrFile = "broker.addr"

// startEmbeddedBroker starts the embedded broker in <data_dir>/kafka, on
// kafka.embedded.port or else the port it had last time (a new one if that
// is taken), and records its address.
func startEmbeddedBroker(ctx context.Context, cfg *config.Config, log *slog.Logger) (*services.Kafka, error) {
	dir := filepath.Join(cfg.DataDir, "kafka")
	opts := services.KafkaOptions{
		DataDir:    dir,
		SyncWrites: !cfg.Kafka.Embedded.NoSyncWrites,
		Host:       cfg.Kafka.Embedded.Host,
		Port:       cfg.Kafka.Embedded.Port,
		Partitions: int(cfg.Kafka.Topics.Partitions),
		Log:        log.With("component", "broker"),
	}
	last := 0
	if opts.Port == 0 {
		if addr, err := readBrokerAddr(dir); err == nil {
			if _, p, err := net.SplitHostPort(addr); err == nil {
				last, _ = strconv.Atoi(p)
			}
		}
		opts.Port = last
	}
	broker, err := services.StartKafka(ctx, opts)
	if err != nil && last != 0 {
		log.Warn("the embedded broker's last port is not available: taking a new one", "port", last, "err", err)
		opts.Port = 0
		broker, err = services.StartKafka(ctx, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("start the embedded broker in %s: %w", dir, err)
	}
	addrs := broker.Addrs()
	if err := os.WriteFile(filepath.Join(dir, brokerAddrFile), []byte(strings.Join(addrs, ",")+"\n"), 0o644); err != nil {
		broker.Close()
		return nil, fmt.Errorf("record the embedded broker's address: %w", err)
	}
	log.Info("embedded broker started", "addrs", addrs, "data_dir", dir, "sync_writes", opts.SyncWrites,
		"try", "kcat -b "+addrs[0]+" -L")
	return broker, nil
}

// readBrokerAddr returns what brokerAddrFile in dir holds.
func readBrokerAddr(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, brokerAddrFile))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// embeddedBrokers returns the brokers a command that only reads Kafka
// (materialize, replay) uses when kafka.brokers is empty: the embedded broker
// that `cdcflow run` recorded in the same data directory.
func embeddedBrokers(cfg *config.Config) ([]string, error) {
	dir := filepath.Join(cfg.DataDir, "kafka")
	addr, err := readBrokerAddr(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no kafka.brokers (CDCFLOW_KAFKA_BROKERS), and no embedded broker recorded in %s: start cdcflow run with the same data_dir first, or set kafka.brokers", errUsage, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read the embedded broker's address: %w", err)
	}
	return strings.Split(addr, ","), nil
}
