package config

import (
	"strings"
	"testing"
	"time"
)

func TestCEPConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		env     []string
		wantErr string
		check   func(t *testing.T, cfg *Config)
	}{
		{name: "defaults: off", yaml: "version: 1\n", check: func(t *testing.T, cfg *Config) {
			c := cfg.CEP
			if c.Enabled || c.Name != "cep" || c.StateTopic != "cdcflow.cep.state" || c.CommitInterval != time.Second ||
				c.TransactionTimeout != 10*time.Second || c.MaxBuffered != 10000 {
				t.Errorf("defaults not applied: %+v", c)
			}
			rc := c.RunnerConfig(&cfg.Kafka, []string{"b:9092"}, "shop.")
			if rc.Topic != "shop.cep" || rc.Source != "cdcflow://cep/shop" || rc.Name != "cep" || rc.Partitions != cfg.Kafka.Topics.Partitions {
				t.Errorf("RunnerConfig = %+v; want topic shop.cep, source cdcflow://cep/shop", rc)
			}
			if rc := c.RunnerConfig(&cfg.Kafka, nil, ""); rc.Topic != "cep" || rc.Source != "cdcflow://cep" {
				t.Errorf("RunnerConfig without prefix: topic %q, source %q; want cep, cdcflow://cep", rc.Topic, rc.Source)
			}
		}},
		{name: "from the environment", yaml: "version: 1\n",
			env: []string{"CDCFLOW_CEP_ENABLED=true", "CDCFLOW_CEP_FILE=cep.yaml", "CDCFLOW_CEP_NAME=replay-2", "CDCFLOW_CEP_TOPIC=derived",
				"CDCFLOW_CEP_SOURCE=cdcflow://cep/x", "CDCFLOW_CEP_COMMIT_INTERVAL=250ms"},
			check: func(t *testing.T, cfg *Config) {
				c := cfg.CEP
				rc := c.RunnerConfig(&cfg.Kafka, nil, "shop.")
				if !c.Enabled || c.File != "cep.yaml" || rc.Name != "replay-2" || rc.Topic != "derived" || rc.Source != "cdcflow://cep/x" || rc.CommitInterval != 250*time.Millisecond {
					t.Errorf("cep = %+v, runner %+v", c, rc)
				}
			}},
		{name: "enabled without a file", yaml: "version: 1\ncep:\n  enabled: true\n", wantErr: "cep.file"},
		{name: "bad name", yaml: "version: 1\ncep:\n  name: Shop/Rules\n", wantErr: "cep.name"},
		{name: "timeout not above the interval", yaml: "version: 1\ncep:\n  commit_interval: 10s\n", wantErr: "cep.transaction_timeout"},
		{name: "negative interval", yaml: "version: 1\ncep:\n  commit_interval: -1s\n", wantErr: "cep.commit_interval"},
		{name: "max buffered", yaml: "version: 1\ncep:\n  max_buffered: -3\n", wantErr: "cep.max_buffered"},
		{name: "unknown key", yaml: "version: 1\ncep:\n  rules: cep.yaml\n", wantErr: "rules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse("cdcflow.yaml", []byte(tt.yaml), tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse = %v; want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			tt.check(t, cfg)
		})
	}
}
