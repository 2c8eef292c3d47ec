package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/cdcflow/cdcflow/cep"
	"github.com/cdcflow/cdcflow/cep/cepkafka"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/metricsserver"
	"github.com/cdcflow/cdcflow/pipeline"
)

func init() {
	register(command{
		name:    "cep",
		summary: "derive events from temporal rules over the event topics, exactly once (complex event processing)",
		description: "Reads every partition of the event topics the rules listen to (read_committed), evaluates the rules\n" +
			"(cep.file) and writes the derived events to cep.topic; per cep.commit_interval one Kafka transaction\n" +
			"holds the derived events and the state with the consumed offsets (cep.state_topic). A restart resumes\n" +
			"from the stored state; a replay from the beginning is a new cep.name. See docs/cep.md.",
		run:     runCEP,
		example: "cdcflow cep --config cdcflow.yaml --rules deploy/examples/orders/cep.yaml\ncdcflow cep --config cdcflow.yaml --name replay-2 --topic shop.cep.replay",
	})
}

// runCEP runs the rules until ctx is done.
func runCEP(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("cep", stderr)
	path := configFlag(fs)
	mappingFile := fs.String("mapping", "", "mapping `file` (default: mapping.file)")
	rulesFile := fs.String("rules", "", "rule `file` (default: cep.file)")
	name := fs.String("name", "", "consumer `name`: the key of the state and the transactional id (default: cep.name)")
	topic := fs.String("topic", "", "`topic` of the derived events (default: cep.topic)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		return err
	}
	if *mappingFile != "" {
		cfg.Mapping.File = *mappingFile
	}
	if *rulesFile != "" {
		cfg.CEP.File = *rulesFile
	}
	if *name != "" {
		cfg.CEP.Name = *name
	}
	if *topic != "" {
		cfg.CEP.Topic = *topic
	}
	brokers := cfg.Kafka.Brokers
	if len(brokers) == 0 {
		// Beside a cdcflow run on the embedded broker, on the same data
		// directory: read from its broker.
		if brokers, err = embeddedBrokers(cfg); err != nil {
			return err
		}
	}
	mapping, err := config.LoadMappingFile(cfg.Mapping.File, nil, cfg.Source.Timezone)
	if err != nil {
		return err
	}
	log := cfg.Log.Logger(stderr)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	runner, err := newCEPRunner(cfg, mapping, brokers, log, reg)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	if cfg.Metrics.Addr != "" {
		metricsserver.RegisterProcess(reg, "cep", buildVersion(), runner.Ready)
		g.Go(func() error { return metricsserver.Serve(gctx, cfg.Metrics.Addr, reg, runner.Ready) })
	}
	g.Go(func() error { return runner.Run(gctx) })
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		log.Info("stopped: every derived event is committed with the state and offsets that produced it; the next start resumes from them")
		return nil
	}
	return err
}

// parseRulesFile reads and compiles the CEP rules file, its problems one
// per line as file:line: rule "name": problem.
func parseRulesFile(file string) (*cep.Rules, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("cep rules: %w", err)
	}
	rs, err := cep.ParseRules(file, src)
	if err != nil {
		return nil, cep.ProblemLines(err)
	}
	return rs, nil
}

// loadCEPRules reads, compiles and checks the rule file of cfg against
// the mapping.
func loadCEPRules(cfg *config.Config, mapping *pipeline.Mapping) (*cep.Rules, error) {
	if cfg.CEP.File == "" {
		return nil, fmt.Errorf("%w: cep.file (CDCFLOW_CEP_FILE, or --rules) names no rule file", errUsage)
	}
	src, err := os.ReadFile(cfg.CEP.File)
	if err != nil {
		return nil, fmt.Errorf("cep.file: %w", err)
	}
	rules, err := cep.ParseRules(cfg.CEP.File, src)
	if err != nil {
		return nil, err
	}
	if err := rules.Check(mapping); err != nil {
		return nil, fmt.Errorf("rules %s against mapping %s:\n%w", cfg.CEP.File, cfg.Mapping.File, err)
	}
	return rules, nil
}

// newCEPRunner builds the runner of cfg's rules on brokers, its metrics
// registered with reg.
func newCEPRunner(cfg *config.Config, mapping *pipeline.Mapping, brokers []string, log *slog.Logger, reg prometheus.Registerer) (*cepkafka.Runner, error) {
	rules, err := loadCEPRules(cfg, mapping)
	if err != nil {
		return nil, err
	}
	rc := cfg.CEP.RunnerConfig(&cfg.Kafka, brokers, mapping.Topic(""))
	rc.Inputs = rules.InputTopics(mapping)
	if len(rc.Inputs) == 0 {
		return nil, fmt.Errorf("rules %s read no event type of mapping %s", cfg.CEP.File, cfg.Mapping.File)
	}
	if rc.ClientOpts, err = cfg.Kafka.ConsumerOpts(); err != nil {
		return nil, err
	}
	rc.Upcast = mapping.Upcast
	rc.Logger = log
	rc.Metrics = cepkafka.NewMetrics(reg)
	return cepkafka.New(rc, rules)
}

// cepService returns the flow service `cdcflow run` starts when
// cep.enabled is set: the rules, on the flow's brokers and metrics
// registry. The rules are loaded and checked before the flow starts.
func cepService(cfg *config.Config, mapping *pipeline.Mapping, log *slog.Logger) (func(ctx context.Context, reg *prometheus.Registry, brokers []string) error, error) {
	if _, err := loadCEPRules(cfg, mapping); err != nil {
		return nil, err
	}
	return func(ctx context.Context, reg *prometheus.Registry, brokers []string) error {
		runner, err := newCEPRunner(cfg, mapping, brokers, log, reg)
		if err != nil {
			return fmt.Errorf("cep: %w", err)
		}
		err = runner.Run(ctx)
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("cep: %w", err)
		}
		return err
	}, nil
}
