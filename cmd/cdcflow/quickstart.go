package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cdcflow/cdcflow/capture/replication"
	"github.com/cdcflow/cdcflow/deploy/examples/orders"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/internal/loadgen"
	"github.com/cdcflow/cdcflow/internal/progress"
	"github.com/cdcflow/cdcflow/internal/quickstart"
	"github.com/cdcflow/cdcflow/internal/services"
	"github.com/cdcflow/cdcflow/pipeline"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

func init() {
	register(command{name: "quickstart", summary: "run the whole flow on a private PostgreSQL with the reference order database under load", description: "It starts a private PostgreSQL 15 (wal_level=logical) in <data-dir>/postgres, creates the\nreference order database \"orders\" and runs the load generator against it, with\n\"cdcflow run\" capturing it into the embedded Kafka broker in <data-dir>/kafka, until\nCtrl-C (or --count/--duration), then stops the server.",
		run:     runQuickstart,
		example: "cdcflow quickstart\ncdcflow quickstart --views   # also the Redis views, on a private redis-server"})
}

// quickstartDB is the database the quickstart creates and loads.
const quickstartDB = "orders"

// runQuickstart is "cdcflow quickstart": it starts a private PostgreSQL 15
// with logical WAL in <data_dir>/postgres, creates the reference order
// database in it (once; later runs continue on the same data), and runs the
// load generator against it together with the main flow (capture → the
// reference mapping → the embedded Kafka broker in <data_dir>/kafka), with
// live progress, until interrupted or --count. It then stops the server:
// nothing is left running.
func runQuickstart(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("quickstart", stderr)
	cfgPath := configFlag(fs)
	dataDir := fs.String("data-dir", "", "directory for cdcflow's state (default: data_dir of the configuration, ./cdcflow-data)")
	port := fs.Int("port", 0, "TCP port of the private PostgreSQL on 127.0.0.1; 0 picks a free one")
	flowOn := fs.Bool("flow", true, "also run the main flow (capture, mapping, the embedded broker); false runs only the database and the load")
	viewsOn := fs.Bool("views", false, "also start a private redis-server in <data-dir>/redis and materialize the reference views into it (needs redis-server)")
	queryAddr := fs.String("query", "127.0.0.1:8080", "with --views, serve the query API and the dashboard on this `address` (\"\" turns it off)")
	lf := addLoadgenFlags(fs, 20)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath, os.Environ())
	if err != nil {
		return err
	}
	if *dataDir == "" {
		*dataDir = cfg.DataDir
	}
	// On a terminal everything goes through one progress.Screen, so that
	// log records never land inside the live status line.
	stderr = liveStderr(stderr, progress.IsTerminal(stderr))
	log := cfg.Log.Logger(stderr)

	dir := filepath.Join(*dataDir, "postgres")
	fmt.Fprintf(stderr, "starting PostgreSQL in %s ...\n", dir)
	pg, err := services.StartPostgres(ctx, services.PostgresOptions{Dir: dir, Port: *port, Log: log})
	if err != nil {
		return err
	}
	defer func() {
		// Stop even after Ctrl-C: the server must not outlive us.
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if serr := pg.Stop(stopCtx); serr != nil {
			err = errors.Join(err, serr)
			return
		}
		fmt.Fprintln(stderr, "PostgreSQL stopped; run \"cdcflow quickstart\" again to continue on the same data")
	}()
	dsn := pg.DSN(quickstartDB)
	created, err := loadgen.Prepare(ctx, pg.DSN("postgres"), dsn, quickstartDB)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(stderr, "created database %q with the reference order schema\n", quickstartDB)
	} else {
		fmt.Fprintf(stderr, "database %q exists; continuing on its data\n", quickstartDB)
	}
	fmt.Fprint(stderr, quickstart.PostgresHint(pg.Port(), dsn))

	g, err := loadgen.New(lf.config(fs, dsn, stderr))
	if err != nil {
		return err
	}
	if !*flowOn {
		err = runWithProgress(ctx, g, *lf.count, stderr)
		if perr := printStats(stdout, g.Stats()); err == nil {
			err = perr
		}
		return err
	}

	cfg.DataDir = *dataDir
	cfg.Source.DSN = dsn
	cfg.Source.Timezone = loadgen.ShopZone
	mapping, err := pipeline.Load(orders.Files, orders.MappingFile, pipeline.LoadOptions{Timezone: loadgen.ShopZone})
	if err != nil {
		return fmt.Errorf("load the reference mapping: %w", err)
	}
	var topics []string
	for _, a := range mapping.AggregateTypes() {
		topics = append(topics, mapping.Topic(a))
	}
	fmt.Fprint(stderr, quickstart.CaptureHint(filepath.Join(*dataDir, "kafka"), topics))
	fmt.Fprint(stderr, quickstart.StatusHint(dsn, loadgen.ShopZone, *dataDir))
	opts := flowOptions{command: "quickstart", status: func() string { return quickstart.LoadStatus(g.Stats().Transactions) }}
	if progress.IsTerminal(stderr) {
		opts.progress = stderr
	}
	var views *quickstartViews
	if *viewsOn {
		if views, err = startQuickstartViews(ctx, cfg, mapping, log, *dataDir, stderr); err != nil {
			return err
		}
		defer views.stop(ctx, stderr)
		opts.services = append(opts.services, views.setup.materializeService())
		if cfg.Query.Addr = quickstart.FreeOr(*queryAddr); cfg.Query.Addr != "" {
			opts.services = append(opts.services, views.setup.queryService(func(addr string) {
				fmt.Fprint(stderr, quickstart.DashboardHint(addr))
			}))
		}
		load := opts.status
		opts.status = func() string { return load() + " | " + views.orders.Status(ctx) }
	}
	// The flow runs until Ctrl-C. A bounded load (--count, --duration)
	// ends the quickstart once the slot has confirmed everything it wrote:
	// every event is then acknowledged by the broker.
	group, gctx := errgroup.WithContext(ctx)
	flowCtx, stopFlow := context.WithCancel(gctx)
	defer stopFlow()
	var caughtUp bool
	group.Go(func() error {
		if err := g.Run(gctx); err != nil {
			if gctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("load: %w", err)
		}
		if err := replication.AwaitCaughtUp(gctx, dsn, cfg.Capture.Slot); err != nil {
			return err
		}
		if views != nil {
			if err := views.orders.AwaitDatabase(gctx, dsn); err != nil {
				return err
			}
		}
		caughtUp = true
		stopFlow()
		return nil
	})
	group.Go(func() error {
		err := runFlow(flowCtx, cfg, mapping, log, opts)
		if caughtUp && errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	})
	err = group.Wait()
	if perr := printStats(stdout, g.Stats()); err == nil || errors.Is(err, context.Canceled) {
		err = errors.Join(err, perr)
	}
	if views != nil {
		views.orders.WriteSummary(context.WithoutCancel(ctx), stdout)
	}
	return err
}

// quickstartViews is the quickstart's private Redis and the reference views
// `cdcflow run` materializes into it.
type quickstartViews struct {
	redis  *services.Redis
	setup  *viewSetup
	orders *quickstart.Orders
}

// startQuickstartViews starts redis-server in <dataDir>/redis (nothing
// persisted: the views are rebuilt from the topics, which are kept) and
// configures the views on it, from the definitions embedded in the binary.
func startQuickstartViews(ctx context.Context, cfg *config.Config, mapping *pipeline.Mapping, log *slog.Logger, dataDir string, stderr io.Writer) (*quickstartViews, error) {
	dir := filepath.Join(dataDir, "redis")
	r, err := services.StartRedis(ctx, services.RedisOptions{Dir: dir, Log: log})
	if err != nil {
		return nil, fmt.Errorf("start redis-server in %s: %w", dir, err)
	}
	cfg.Views.Enabled = true
	cfg.Views.File = "(embedded) " + orders.ViewsFile
	cfg.Views.Redis.Addrs, cfg.Views.Redis.Cluster = []string{r.Addr()}, false
	src, err := orders.Files.ReadFile(orders.ViewsFile)
	if err == nil {
		var s *viewSetup
		if s, err = newViewSetupFrom(cfg, mapping, log, src); err == nil {
			v := &quickstartViews{redis: r, setup: s}
			var reader *redisview.Reader
			if reader, err = redisview.NewReader(s.Definitions(), s.rdb, cfg.Views.Prefix, int(cfg.Kafka.Topics.Partitions)); err == nil {
				v.orders = quickstart.NewOrders(reader)
				fmt.Fprint(stderr, quickstart.RedisHint(r.Addr(), r.Port(), cfg.Views.Prefix))
				return v, nil
			}
			s.rdb.Close()
		}
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return nil, errors.Join(fmt.Errorf("reference views: %w", err), r.Stop(stopCtx))
}

// stop closes the client and stops the server.
func (v *quickstartViews) stop(ctx context.Context, stderr io.Writer) {
	v.setup.rdb.Close()
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := v.redis.Stop(stopCtx); err != nil {
		fmt.Fprintf(stderr, "stop redis-server: %v\n", err)
	}
}
