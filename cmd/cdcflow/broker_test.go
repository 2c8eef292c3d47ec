package main

import (
	"errors"
	"flag"
	"io"
	"testing"
)

func TestParseBrokerFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    brokerFlags
		wantErr error
	}{
		{"defaults", nil, brokerFlags{listen: "127.0.0.1:9092", syncWrites: true, partitions: 1}, nil},
		{"all", []string{"--listen", "0.0.0.0:0", "--data-dir", "d", "--sync-writes=false", "--partitions", "6", "--ready-file", "r"},
			brokerFlags{listen: "0.0.0.0:0", dataDir: "d", partitions: 6, readyFile: "r"}, nil},
		{"help", []string{"-h"}, brokerFlags{}, flag.ErrHelp},
		{"unknown flag", []string{"--nope"}, brokerFlags{}, errUsage},
		{"no port", []string{"--listen", "localhost"}, brokerFlags{}, errUsage},
		{"bad port", []string{"--listen", "localhost:99999"}, brokerFlags{}, errUsage},
		{"zero partitions", []string{"--partitions", "0"}, brokerFlags{}, errUsage},
		{"argument", []string{"extra"}, brokerFlags{}, errUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBrokerFlags(tt.args, io.Discard)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("parseBrokerFlags(%q) error = %v; want %v", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("parseBrokerFlags(%q) = %+v, %v; want %+v", tt.args, got, err, tt.want)
			}
		})
	}
}
