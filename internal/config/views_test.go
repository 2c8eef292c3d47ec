package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestViewsConfig(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(secret, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		yaml    string
		env     []string
		wantErr string // substring; "" means valid
		check   func(t *testing.T, v ViewsConfig)
	}{
		{
			name: "defaults",
			yaml: "version: 1\n",
			check: func(t *testing.T, v ViewsConfig) {
				if v.Enabled || v.Prefix != "cdcflow:" || v.Group != "cdcflow-views" || v.MaxPollRecords != 1000 ||
					v.ReplayGrace != 30*time.Second || !slices.Equal(v.Redis.Addrs, []string{"127.0.0.1:6379"}) ||
					v.Redis.Cluster || v.Redis.DialTimeout != 5*time.Second {
					t.Errorf("defaults not applied: %+v", v)
				}
			},
		},
		{
			name: "a cluster from the file",
			yaml: "version: 1\nviews:\n  enabled: true\n  file: views.yaml\n  redis:\n    cluster: true\n    addrs: [r1:7000, r2:7000]\n    username: cdcflow\n    password: pw\n    tls:\n      enable: true\n      server_name: redis.internal\n  prefix: 'shop:'\n  group: g\n  dead_letter_topic: views.dead\n",
			check: func(t *testing.T, v ViewsConfig) {
				if !v.Enabled || v.File != "views.yaml" || !v.Redis.Cluster || len(v.Redis.Addrs) != 2 || v.Redis.Password != "pw" ||
					!v.Redis.TLS.Enable || v.Prefix != "shop:" || v.Group != "g" || v.DeadLetterTopic != "views.dead" {
					t.Errorf("ViewsConfig = %+v", v)
				}
				c, err := v.Redis.Client()
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				cc, ok := c.(*redis.ClusterClient)
				if !ok {
					t.Fatalf("client() = %T; want *redis.ClusterClient", c)
				}
				o := cc.Options()
				if o.Username != "cdcflow" || o.Password != "pw" || o.TLSConfig == nil || o.TLSConfig.ServerName != "redis.internal" {
					t.Errorf("cluster options = %+v", o)
				}
			},
		},
		{
			name: "environment overrides and a password file",
			yaml: "version: 1\nviews:\n  redis:\n    addrs: [r1:6379]\n",
			env: []string{"CDCFLOW_VIEWS_ENABLED=true", "CDCFLOW_VIEWS_FILE=v.yaml", "CDCFLOW_VIEWS_REDIS_ADDRS=redis:6380",
				"CDCFLOW_VIEWS_REDIS_USERNAME=u", "CDCFLOW_VIEWS_REDIS_PASSWORD_FILE=" + secret, "CDCFLOW_VIEWS_REDIS_DB=3",
				"CDCFLOW_VIEWS_REDIS_TLS_ENABLE=true", "CDCFLOW_VIEWS_REPLAY_GRACE=1m"},
			check: func(t *testing.T, v ViewsConfig) {
				if !v.Enabled || v.File != "v.yaml" || v.Redis.Addrs[0] != "redis:6380" || v.Redis.Password != "from-a-file" ||
					v.Redis.DB != 3 || v.ReplayGrace != time.Minute {
					t.Errorf("ViewsConfig = %+v", v)
				}
				c, err := v.Redis.Client()
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				rc, ok := c.(*redis.Client)
				if !ok {
					t.Fatalf("client() = %T; want *redis.Client", c)
				}
				o := rc.Options()
				if o.Addr != "redis:6380" || o.Username != "u" || o.Password != "from-a-file" || o.DB != 3 ||
					o.TLSConfig == nil || o.TLSConfig.ServerName != "redis" {
					t.Errorf("options = %+v", o)
				}
			},
		},
		{name: "enabled without a file", yaml: "version: 1\nviews:\n  enabled: true\n", wantErr: "views.file: required"},
		{name: "two addresses without cluster", yaml: "version: 1\nviews:\n  redis:\n    addrs: [a:1, b:2]\n", wantErr: "views.redis.addrs: 2 addresses"},
		{name: "bad address", yaml: "version: 1\nviews:\n  redis:\n    addrs: [nohost]\n", wantErr: "cdcflow.yaml:4: views.redis.addrs: item 1"},
		{name: "bad address from the environment", yaml: "version: 1\n", env: []string{"CDCFLOW_VIEWS_REDIS_ADDRS=h:x"}, wantErr: "CDCFLOW_VIEWS_REDIS_ADDRS: views.redis.addrs: item 1"},
		{name: "db on a cluster", yaml: "version: 1\nviews:\n  redis:\n    cluster: true\n    db: 2\n", wantErr: "views.redis.db"},
		{name: "braces in the prefix", yaml: "version: 1\nviews:\n  prefix: '{x}:'\n", wantErr: "views.prefix"},
		{name: "glob in the prefix", yaml: "version: 1\nviews:\n  prefix: 'a*:'\n", wantErr: "views.prefix"},
		{name: "user without password", yaml: "version: 1\nviews:\n  redis:\n    username: u\n", wantErr: "views.redis.password"},
		{name: "cert without key", yaml: "version: 1\nviews:\n  redis:\n    tls:\n      cert_file: c.pem\n", wantErr: "views.redis.tls: cert_file and key_file"},
		{name: "negative grace", yaml: "version: 1\nviews:\n  replay_grace: -1s\n", wantErr: "views.replay_grace"},
		{name: "unknown key", yaml: "version: 1\nviews:\n  redis:\n    addr: a:1\n", wantErr: "unknown key views.redis.addr (did you mean addrs?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse("cdcflow.yaml", []byte(tt.yaml), tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseConfig = %v; want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseConfig: %v", err)
			}
			tt.check(t, cfg.Views)
		})
	}
}

func TestViewsRedisPasswordNotPrinted(t *testing.T) {
	cfg, err := parse("cdcflow.yaml", []byte("version: 1\nviews:\n  redis:\n    username: u\n    password: hunter2\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "hunter2") || !strings.Contains(string(out), "password: <redacted>") {
		t.Errorf("printed configuration shows the Redis password or hides that it is set:\n%s", out)
	}
}

func TestKafkaConsumerOpts(t *testing.T) {
	tests := []struct {
		name string
		k    KafkaConfig
		want int // options beyond the client id
	}{
		{name: "embedded broker: no security", k: KafkaConfig{TLS: KafkaTLSConfig{Enable: true}, SASL: KafkaSASLConfig{Mechanism: "PLAIN", User: "u"}}, want: 0},
		{name: "plaintext", k: KafkaConfig{Brokers: []string{"b:9092"}}, want: 0},
		{name: "TLS and SCRAM", k: KafkaConfig{Brokers: []string{"b:9092"}, TLS: KafkaTLSConfig{Enable: true}, SASL: KafkaSASLConfig{Mechanism: "SCRAM-SHA-512", User: "u", Password: "p"}}, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := tt.k.ConsumerOpts()
			if err != nil {
				t.Fatal(err)
			}
			if got := len(opts) - 1; got != tt.want {
				t.Errorf("ConsumerOpts() has %d security options; want %d", got, tt.want)
			}
		})
	}
	_, err := (&KafkaConfig{Brokers: []string{"b:9092"}, TLS: KafkaTLSConfig{Enable: true, CAFile: "/nonexistent/ca.pem"}}).ConsumerOpts()
	if err == nil || !strings.Contains(err.Error(), "kafka.tls") {
		t.Errorf("consumerOpts with a missing CA file = %v; want an error naming kafka.tls", err)
	}
}
