// Package archtest checks the dependency lines DESIGN.md draws between cdcflow's
// packages, so that a wrong import fails the build instead of a review.
package archtest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/cdcflow/cdcflow"

// pkg is the part of `go list -json` this test reads.
type pkg struct {
	ImportPath string
	Imports    []string // non-test imports
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return pkgs
}

// rule forbids packages matching from to import anything forbid matches.
type rule struct {
	name   string
	from   func(path string) bool
	forbid func(imp string) bool
}

func under(prefix string) func(string) bool {
	p := module + "/" + prefix
	return func(s string) bool { return s == p || strings.HasPrefix(s, p+"/") }
}

func anyOf(fs ...func(string) bool) func(string) bool {
	return func(s string) bool {
		for _, f := range fs {
			if f(s) {
				return true
			}
		}
		return false
	}
}

func prefixes(ps ...string) func(string) bool {
	return func(s string) bool {
		for _, p := range ps {
			if s == p || strings.HasPrefix(s, p+"/") {
				return true
			}
		}
		return false
	}
}

var (
	kafkaLibs    = prefixes("github.com/twmb/franz-go")
	redisLibs    = prefixes("github.com/redis/go-redis")
	postgresLibs = prefixes("github.com/jackc/pgx", "github.com/jackc/pgconn", "github.com/jackc/pglogrepl", "github.com/jackc/pgproto3")
	projectPkg   = func(s string) bool { return strings.HasPrefix(s, module+"/") || s == module }
	// ioLibs are what a pure package must not touch: network, processes,
	// logging and metrics.
	ioLibs = func(imp string) bool {
		if imp == "net/url" || imp == "net/netip" { // pure parsing
			return false
		}
		return prefixes("net", "os/exec", "os/signal", "log", "database/sql",
			"github.com/prometheus", "syscall")(imp)
	}
)

var rules = []rule{
	{
		name:   "capture knows nothing of pipeline, sinks, Kafka or Redis",
		from:   under("capture"),
		forbid: anyOf(under("pipeline"), under("sinks"), under("cmd"), kafkaLibs, redisLibs),
	},
	{
		name:   "the capture root package is plain data (standard library only)",
		from:   func(s string) bool { return s == module+"/capture" },
		forbid: func(imp string) bool { return strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") },
	},
	{
		name:   "only capture's subpackages (and the test harness) talk to PostgreSQL",
		from:   anyOf(under("pipeline"), under("sinks"), under("backpressure")),
		forbid: postgresLibs,
	},
	{
		name: "pipeline is pure: it imports only capture's types (and the JSON writers of internal/jsonx), and does no I/O",
		from: under("pipeline"),
		forbid: anyOf(ioLibs, kafkaLibs, redisLibs, postgresLibs, func(imp string) bool {
			return projectPkg(imp) && imp != module+"/capture" && imp != module+"/internal/strictyaml" && imp != module+"/internal/jsonx" && !under("pipeline")(imp)
		}),
	},
	{
		name:   "sinks never import capture",
		from:   under("sinks"),
		forbid: anyOf(under("capture"), under("cmd")),
	},
	{
		name:   "backpressure imports no project package",
		from:   under("backpressure"),
		forbid: projectPkg,
	},
	{
		name: "benchkit measures from outside: it never imports the code under measurement",
		from: under("internal/bench/benchkit"),
		forbid: anyOf(under("capture/replication"), under("capture/pgoutput"), under("pipeline"), under("sinks"),
			under("cmd"), kafkaLibs, redisLibs),
	},
	{
		name: "flow runs over parts: capture's types, pipeline, backpressure and sinks/kafka's types; no driver, client or command",
		from: under("flow"),
		forbid: anyOf(postgresLibs, kafkaLibs, redisLibs, under("cmd"), under("sinks/redisview"), under("internal"),
			func(imp string) bool { return under("capture")(imp) && imp != module+"/capture" }),
	},
	{
		// The one backoff mechanism lives in backpressure, which imports no
		// project package; the Reader's reconnect loop uses it. Nothing else
		// in capture needs flow control.
		name:   "in capture, only the Reader (capture/replication) imports backpressure",
		from:   func(s string) bool { return under("capture")(s) && !under("capture/replication")(s) },
		forbid: under("backpressure"),
	},
	{
		name:   "capture draws nothing: progress goes to a callback, displays are internal/progress's",
		from:   under("capture"),
		forbid: anyOf(under("internal/progress"), prefixes("golang.org/x/term")),
	},
	{
		name:   "internal/progress imports no project package",
		from:   under("internal/progress"),
		forbid: projectPkg,
	},
	{
		name:   "only cmd reads the configuration: components get their own Config values",
		from:   func(s string) bool { return projectPkg(s) && !under("cmd")(s) && !under("internal/config")(s) },
		forbid: under("internal/config"),
	},
	{
		name:   "strictyaml is pure: no project package, no I/O (not even files)",
		from:   under("internal/strictyaml"),
		forbid: anyOf(projectPkg, ioLibs, prefixes("os", "io/fs")),
	},
	{
		// status and the generated alert rules both read the thresholds, so
		// the package stays plain data: no metrics, network or clients.
		name: "thresholds is plain data: only strictyaml among project packages, no network or metrics",
		from: func(s string) bool { return under("internal/thresholds")(s) && !under("internal/thresholds/gen")(s) },
		forbid: anyOf(ioLibs, kafkaLibs, redisLibs, postgresLibs,
			func(imp string) bool { return projectPkg(imp) && imp != module+"/internal/strictyaml" }),
	},
	{
		// status reads what the parts left (slot, topics, views' offsets)
		// through the parts' own readers; it runs no flow and cmd hands it
		// its Config.
		name:   "status reads through the parts: no cmd, flow, pipeline or configuration",
		from:   under("internal/status"),
		forbid: anyOf(under("cmd"), under("flow"), under("pipeline"), under("internal/config")),
	},
	{
		// The query server mounts the dashboard; the page reads the views
		// only through the server's HTTP API, never a client of its own.
		name:   "query/dashboard is embedded files and their handler: no project package, no client library",
		from:   under("query/dashboard"),
		forbid: anyOf(projectPkg, kafkaLibs, redisLibs, postgresLibs),
	},
	{
		// A standalone `cdcflow serve` needs Redis only: the views are read
		// through redisview, whose keys are the only ones it can name.
		name: "query serves the views from Redis through sinks/redisview: no capture, Kafka, PostgreSQL, flow or command",
		from: func(s string) bool { return under("query")(s) && !under("query/dashboard")(s) },
		forbid: anyOf(under("capture"), under("flow"), under("sinks/kafka"), under("cmd"), under("backpressure"),
			kafkaLibs, postgresLibs),
	},
	{
		// Time comes from the events and progress records; the caller wires
		// Kafka, stores the snapshots and exports the metrics.
		name: "cep is pure: capture's types, pipeline, strictyaml and jsonx only; no I/O, no clients, no metrics",
		from: func(s string) bool { return under("cep")(s) && !under("cep/cepkafka")(s) },
		forbid: anyOf(ioLibs, kafkaLibs, redisLibs, postgresLibs, prefixes("os", "io/fs"), func(imp string) bool {
			return projectPkg(imp) && imp != module+"/capture" && imp != module+"/internal/strictyaml" && imp != module+"/internal/jsonx" && !under("pipeline")(imp)
		}),
	},
	{
		// The CEP runtime wires the pure engine to Kafka: it reads and
		// writes event topics, never the source, the views or the commands.
		name: "cep/cepkafka runs the engine over Kafka: cep, pipeline, backpressure and franz-go; no capture driver, Redis, PostgreSQL, sinks or cmd",
		from: under("cep/cepkafka"),
		forbid: anyOf(redisLibs, postgresLibs, under("sinks"), under("flow"), under("cmd"), under("internal/config"), under("query"),
			func(imp string) bool { return under("capture")(imp) && imp != module+"/capture" }),
	},
	{
		// `cdcflow schemas` writes its files through schemafiles; the
		// command opens the connection and hands it plain values.
		name:   "schemafiles writes schema files: no cmd, configuration, Kafka or Redis",
		from:   under("internal/schemafiles"),
		forbid: anyOf(under("cmd"), under("internal/config"), under("sinks"), kafkaLibs, redisLibs),
	},
	{
		// A display renders what the replay reports through its callback.
		name:   "replaydisplay only renders: no cmd, configuration, clients or capture",
		from:   under("internal/replaydisplay"),
		forbid: anyOf(under("cmd"), under("internal/config"), under("capture"), kafkaLibs, redisLibs, postgresLibs, prefixes("net")),
	},
	{
		// cmd starts the quickstart's servers and builds its clients.
		name:   "quickstart holds the quickstart's texts and reads: no cmd, configuration, flow or Kafka",
		from:   under("internal/quickstart"),
		forbid: anyOf(under("cmd"), under("internal/config"), under("flow"), under("sinks/kafka"), kafkaLibs),
	},
	{
		// pipeline and cep are pure and import it: it must stay so.
		name:   "jsonx reads and writes JSON: standard library only, no I/O",
		from:   under("internal/jsonx"),
		forbid: anyOf(projectPkg, ioLibs, prefixes("os", "io/fs"), func(imp string) bool { return strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") }),
	},
	{
		name:   "kafkatx serves the Kafka transaction writers: franz-go and backpressure only",
		from:   under("internal/kafkatx"),
		forbid: anyOf(func(imp string) bool { return projectPkg(imp) && imp != module+"/backpressure" }, redisLibs, postgresLibs),
	},
	{
		// cmd loads the configuration and the mapping; the checks get
		// plain values.
		name:   "checks runs the check command's checks: no cmd or configuration",
		from:   under("internal/checks"),
		forbid: anyOf(under("cmd"), under("internal/config")),
	},
	{
		// cmd reads the configuration and builds the clients; the view
		// commands' assembly gets plain values.
		name:   "viewsetup assembles the views over redisview: no cmd, configuration, capture, flow or PostgreSQL",
		from:   under("internal/viewsetup"),
		forbid: anyOf(under("cmd"), under("internal/config"), under("capture"), under("flow"), postgresLibs),
	},
	{
		// It composes the parts cmd built; the lease is an interface.
		name:   "standby composes the lease and the job: no project package, no client library",
		from:   under("internal/standby"),
		forbid: anyOf(projectPkg, kafkaLibs, redisLibs, postgresLibs),
	},
	{
		// As replaydisplay: the flow and the snapshot report, it draws.
		name:   "flowdisplay only renders: no cmd, configuration or client library",
		from:   under("internal/flowdisplay"),
		forbid: anyOf(under("cmd"), under("internal/config"), kafkaLibs, redisLibs, postgresLibs, prefixes("net")),
	},
}

func TestDependencyRules(t *testing.T) {
	pkgs := listPackages(t)
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			for _, p := range pkgs {
				if !r.from(p.ImportPath) {
					continue
				}
				for _, imp := range p.Imports {
					if r.forbid(imp) {
						t.Errorf("%s imports %s", p.ImportPath, imp)
					}
				}
			}
		})
	}
}

// TestRulesCatchViolations proves each rule can fail: a test whose rules match
// nothing would pass forever.
func TestRulesCatchViolations(t *testing.T) {
	bad := []pkg{
		{module + "/capture/replication", []string{"github.com/twmb/franz-go/pkg/kgo"}},
		{module + "/capture", []string{"github.com/jackc/pgx/v5"}},
		{module + "/sinks/kafka", []string{"github.com/jackc/pgx/v5/pgconn"}},
		{module + "/pipeline", []string{"net/http"}},
		{module + "/sinks/redisview", []string{module + "/capture"}},
		{module + "/backpressure", []string{module + "/pipeline"}},
		{module + "/internal/bench/benchkit", []string{module + "/capture/replication"}},
		{module + "/flow", []string{module + "/capture/replication"}},
		{module + "/capture/snapshot", []string{module + "/backpressure"}},
		{module + "/capture/snapshot", []string{"golang.org/x/term"}},
		{module + "/internal/progress", []string{module + "/capture"}},
		{module + "/sinks/kafka", []string{module + "/internal/config"}},
		{module + "/internal/strictyaml", []string{"os"}},
		{module + "/internal/thresholds", []string{"github.com/prometheus/client_golang/prometheus"}},
		{module + "/internal/status", []string{module + "/flow"}},
		{module + "/query/dashboard", []string{module + "/sinks/redisview"}},
		{module + "/query", []string{"github.com/twmb/franz-go/pkg/kgo"}},
		{module + "/cep", []string{module + "/sinks/redisview"}},
		{module + "/cep/cepkafka", []string{module + "/sinks/redisview"}},
		{module + "/internal/schemafiles", []string{"github.com/redis/go-redis/v9"}},
		{module + "/internal/replaydisplay", []string{"github.com/redis/go-redis/v9"}},
		{module + "/internal/quickstart", []string{module + "/internal/config"}},
		{module + "/internal/jsonx", []string{"github.com/google/cel-go/cel"}},
		{module + "/internal/kafkatx", []string{module + "/sinks/kafka"}},
		{module + "/internal/checks", []string{module + "/internal/config"}},
		{module + "/internal/viewsetup", []string{module + "/internal/config"}},
		{module + "/internal/standby", []string{module + "/capture/replication"}},
		{module + "/internal/flowdisplay", []string{"github.com/jackc/pgx/v5"}},
	}
	for i, r := range rules {
		p := bad[i]
		caught := false
		for _, imp := range p.Imports {
			caught = caught || (r.from(p.ImportPath) && r.forbid(imp))
		}
		if !caught {
			t.Errorf("rule %q does not catch %s importing %v", r.name, p.ImportPath, p.Imports)
		}
	}
}
