package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const referenceMapping = "../deploy/examples/orders/mapping.yaml"

func TestCatalogShape(t *testing.T) {
	m := loadMapping(t, referenceMapping, LoadOptions{})
	b, err := m.Catalog(CatalogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AsyncAPI string `json:"asyncapi"`
		Channels map[string]struct {
			Address  string         `json:"address"`
			Messages map[string]any `json:"messages"`
		} `json:"channels"`
		Components struct {
			Messages map[string]any `json:"messages"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.AsyncAPI != "3.0.0" {
		t.Errorf("asyncapi = %q; want 3.0.0", doc.AsyncAPI)
	}
	for agg, topic := range map[string]string{"order": "shop.order", "customer": "shop.customer", "product": "shop.product", "deadletter": "shop.deadletter"} {
		if got := doc.Channels[agg].Address; got != topic {
			t.Errorf("channel %s address = %q; want %q", agg, got, topic)
		}
	}
	for _, et := range m.EventTypes() {
		id := messageID(et.Type, et.Version)
		if _, ok := doc.Channels[et.AggregateType].Messages[id]; !ok {
			t.Errorf("channel %s has no message %s", et.AggregateType, id)
		}
	}
	again, _ := m.Catalog(CatalogOptions{})
	if !bytes.Equal(b, again) {
		t.Error("Catalog is not deterministic")
	}
}

// TestCatalogAsyncAPIParser validates the reference mapping's catalogue with
// the AsyncAPI project's own parser, run by node. The npm packages are
// installed into the user cache directory the first time.
func TestCatalogAsyncAPIParser(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		needTool(t, "node (Debian package nodejs)")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		needTool(t, "npm (Debian package npm)")
	}
	dir := asyncAPIToolDir(t, npm)
	for _, path := range []string{referenceMapping, "testdata/upcast/mapping.yaml", "testdata/golden/types/mapping.yaml"} {
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) {
			m := loadMapping(t, path, LoadOptions{})
			b, err := m.Catalog(CatalogOptions{Title: "test", Version: "0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "asyncapi.json")
			if err := os.WriteFile(file, b, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(t.Context(), node, filepath.Join(dir, "validate.mjs"), file)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("@asyncapi/parser rejects the catalogue: %v\n%s", err, stderr.String())
			}
			var sum struct {
				Version            string
				Channels, Messages int
			}
			if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
				t.Fatalf("parser summary %q: %v", stdout.String(), err)
			}
			if sum.Version != "3.0.0" || sum.Channels != len(m.AggregateTypes())+1 {
				t.Errorf("parser read version %s with %d channels; want 3.0.0 with %d", sum.Version, sum.Channels, len(m.AggregateTypes())+1)
			}
		})
	}
}

func needTool(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing (CI=true: it must be installed)", what)
	}
	t.Skipf("%s is missing: install it to validate the AsyncAPI catalogue", what)
}

// asyncAPIToolDir returns a directory with testdata/asyncapi's files and their
// npm dependencies installed, keyed by the hash of package.json and its lock.
func asyncAPIToolDir(t *testing.T, npm string) string {
	t.Helper()
	src := filepath.Join("testdata", "asyncapi")
	h := sha256.New()
	files := []string{"package.json", "package-lock.json", "validate.mjs"}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "cdcflow", "asyncapi-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@asyncapi", "parser")); err == nil {
		return dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join(src, f))
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(t.Context(), npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := strings.TrimSpace(string(out))
		if os.Getenv("CI") == "true" {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, msg)
		}
		t.Skipf("npm ci in %s failed (no registry?): %v\n%s", dir, err, msg)
	}
	return dir
}

// TestCatalogDescribesEncodedEvents checks that the catalogue tells the truth:
// every event of the reference stream, encoded in structured mode, validates
// against the payload schema of its message in the catalogue.
func TestCatalogDescribesEncodedEvents(t *testing.T) {
	for _, path := range []string{"testdata/golden/orders/stream.json", "testdata/golden/gather/stream.json", "testdata/golden/types/stream.json"} {
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) { checkCatalogTruth(t, path) })
	}
}

func checkCatalogTruth(t *testing.T, path string) {
	s := readStream(t, path)
	m := loadMapping(t, s.mappingPath, LoadOptions{Timezone: s.timezone})
	b, err := m.Catalog(CatalogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	msgs := doc.(map[string]any)["components"].(map[string]any)["messages"].(map[string]any)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	compiled := map[string]*jsonschema.Schema{}
	payload := func(id string) *jsonschema.Schema {
		if sch, ok := compiled[id]; ok {
			return sch
		}
		msg, ok := msgs[id].(map[string]any)
		if !ok {
			t.Fatalf("catalogue has no message %s", id)
		}
		if err := c.AddResource("mem:///"+id, msg["payload"]); err != nil {
			t.Fatal(err)
		}
		sch, err := c.Compile("mem:///" + id)
		if err != nil {
			t.Fatalf("compile payload of %s: %v", id, err)
		}
		compiled[id] = sch
		return sch
	}
	mp, err := NewMapper(m, MapperOptions{Validate: m.schemas != nil})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	feed(t, mp, s, func(e Event) {
		id := messageID(e.Type, e.Version)
		if e.Control != NotControl {
			id += "." + e.AggregateType
		}
		r, err := EncodeEvent(e, "topic", Structured)
		if err != nil {
			t.Fatal(err)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.Value))
		if err != nil {
			t.Fatal(err)
		}
		if err := payload(id).Validate(v); err != nil {
			t.Errorf("event %s %s does not match the catalogue's message %s: %v", e.Type, e.Position, id, err)
		}
		n++
	})
	if n < 10 {
		t.Fatalf("checked %d events; want at least 10", n)
	}
}

// TestCatalogDerived lists derived events (CEP rules') beside the mapped
// ones: on their aggregate's channel when written to its topic, on a
// channel of their own otherwise.
func TestCatalogDerived(t *testing.T) {
	m := loadMapping(t, referenceMapping, LoadOptions{})
	schema := json.RawMessage(`{"$schema":"http://json-schema.org/draft-07/schema#","$id":"x","description":"late","type":"object","required":["order_id"],"properties":{"order_id":{"type":"integer"}}}`)
	b, err := m.Catalog(CatalogOptions{Derived: []CatalogEvent{
		{Type: "OrderOverdue", Version: 1, AggregateType: "order", Topic: "shop.order", Schema: schema},
		{Type: "CustomerAtRisk", Version: 2, AggregateType: "customer", Topic: "shop.cep", Summary: "Derived by CEP rule customer_at_risk"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Channels map[string]struct {
			Address  string         `json:"address"`
			Messages map[string]any `json:"messages"`
		} `json:"channels"`
		Operations map[string]struct {
			Messages []map[string]string `json:"messages"`
		} `json:"operations"`
		Components struct {
			Messages map[string]struct {
				Summary string `json:"summary"`
				Payload struct {
					Properties map[string]json.RawMessage `json:"properties"`
				} `json:"payload"`
			} `json:"messages"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Channels["order"].Messages["OrderOverdue.v1"]; !ok {
		t.Error("channel order has no message OrderOverdue.v1")
	}
	own := doc.Channels["derived.shop.cep"]
	if own.Address != "shop.cep" {
		t.Errorf("channel derived.shop.cep address = %q; want shop.cep", own.Address)
	}
	if _, ok := own.Messages["CustomerAtRisk.v2"]; !ok || len(own.Messages) != 1 {
		t.Errorf("channel derived.shop.cep messages = %v; want CustomerAtRisk.v2 only", own.Messages)
	}
	if ops := doc.Operations["publish.derived.shop.cep"].Messages; len(ops) != 1 || ops[0]["$ref"] != "#/channels/derived.shop.cep/messages/CustomerAtRisk.v2" {
		t.Errorf("operation publish.derived.shop.cep messages = %v", ops)
	}
	msg := doc.Components.Messages["OrderOverdue.v1"]
	if msg.Summary != "late" {
		t.Errorf("OrderOverdue.v1 summary = %q; want the schema's description", msg.Summary)
	}
	var data map[string]any
	if err := json.Unmarshal(msg.Payload.Properties["data"], &data); err != nil {
		t.Fatal(err)
	}
	if _, root := data["$schema"]; root || data["required"] == nil {
		t.Errorf("OrderOverdue.v1 data = %v; want the schema without its root keywords", data)
	}
	if got := doc.Components.Messages["CustomerAtRisk.v2"].Summary; got != "Derived by CEP rule customer_at_risk" {
		t.Errorf("CustomerAtRisk.v2 summary = %q", got)
	}
	if _, err := m.Catalog(CatalogOptions{Derived: []CatalogEvent{{Type: "X", Version: 1, Topic: "t", Schema: json.RawMessage(`{`)}}}); err == nil {
		t.Error("Catalog with a broken derived schema = nil error")
	}
}
