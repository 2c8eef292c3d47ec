package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/cdcflow/cdcflow/internal/services"
)

func init() {
	register(command{name: "broker", summary: "serve the embedded Kafka-protocol broker (kfake) standalone, until SIGINT or SIGTERM", run: runBroker,
		example: "cdcflow broker --listen 127.0.0.1:9092 --data-dir ./kafka"})
}

// brokerFlags are the command line of "cdcflow broker".
type brokerFlags struct {
	listen     string
	dataDir    string
	syncWrites bool
	partitions int
	readyFile  string
}

func parseBrokerFlags(args []string, stderr io.Writer) (brokerFlags, error) {
	var f brokerFlags
	fs := newFlagSet("broker", stderr)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:9092", "`address` to listen on, host:port (port 0 picks a free one); clients are told to connect to it")
	fs.StringVar(&f.dataDir, "data-dir", "", "`directory` keeping topics, records and group offsets across restarts (created if missing); empty keeps them in memory only")
	fs.BoolVar(&f.syncWrites, "sync-writes", true, "fsync each produced batch before acknowledging it; false is faster but a host crash can lose the last acknowledged seconds")
	fs.IntVar(&f.partitions, "partitions", 1, "partition `count` of topics created on first use")
	fs.StringVar(&f.readyFile, "ready-file", "", "write the bound address to this `file` once listening, for a parent process to await")
	if err := parseFlags(fs, args); err != nil {
		return f, err
	}
	_, port, err := net.SplitHostPort(f.listen)
	if err != nil {
		return f, fmt.Errorf("%w: --listen %q: %w", errUsage, f.listen, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return f, fmt.Errorf("%w: --listen %q: port %q is not a number from 0 to 65535", errUsage, f.listen, port)
	}
	if f.partitions < 1 {
		return f, fmt.Errorf("%w: --partitions %d: must be at least 1", errUsage, f.partitions)
	}
	return f, nil
}

// runBroker serves a kfake broker until ctx ends, then closes it, which
// writes its state to --data-dir.
func runBroker(ctx context.Context, args []string, _, stderr io.Writer) error {
	f, err := parseBrokerFlags(args, stderr)
	if err != nil {
		return err
	}
	host, portStr, _ := net.SplitHostPort(f.listen)
	port, _ := strconv.Atoi(portStr)
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("component", "broker")

	k, err := services.StartKafka(ctx, services.KafkaOptions{
		DataDir:    f.dataDir,
		SyncWrites: f.syncWrites,
		Host:       host,
		Port:       port,
		Partitions: f.partitions,
		Log:        log,
	})
	if err != nil {
		return err
	}
	defer k.Close()
	addr := k.Addrs()[0]
	if f.readyFile != "" {
		if err := writeFileAtomic(f.readyFile, []byte(addr+"\n")); err != nil {
			return fmt.Errorf("write ready file: %w", err)
		}
		defer os.Remove(f.readyFile)
	}
	log.Info("broker listening", "addr", addr, "data_dir", f.dataDir, "sync_writes", f.syncWrites, "partitions", f.partitions)
	<-ctx.Done()
	log.Info("broker stopping")
	return ctx.Err()
}

// writeFileAtomic writes data to path through a temporary file and a
// rename, so a reader never sees it half written.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	if err := errors.Join(werr, tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
