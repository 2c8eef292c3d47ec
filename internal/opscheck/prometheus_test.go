package opscheck

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

// promServer is a Prometheus server started by a test: Debian's
// prometheus binary on a free port, with its storage in a temporary
// directory, scraping one target every second. No system service is
// involved.
type promServer struct {
	addr string
}

// startPrometheus starts Prometheus scraping target (host:port) as job
// "cdcflow", and stops it when the test ends.
func startPrometheus(t *testing.T, target string) *promServer {
	t.Helper()
	bin := tool(t, "prometheus")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: cdcflow
    static_configs:
      - targets: [%q]
`, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	writeFile(t, cfgPath, []byte(cfg))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--storage.tsdb.retention.time=1h",
	)
	logPath := filepath.Join(dir, "prometheus.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("prometheus output:\n%s", out)
		}
	})
	p := &promServer{addr: addr}
	testenv.Await(t, 60*time.Second, "prometheus to scrape cdcflow", func() (bool, error) {
		select {
		case err := <-exited:
			exited <- err
			return false, fmt.Errorf("prometheus exited: %v", err)
		default:
		}
		n, err := p.query(`up{job="cdcflow"} == 1`)
		return err == nil && n > 0, nil
	})
	return p
}

// series runs an instant query and returns how many series (or samples)
// it returned; a query Prometheus refuses fails the test.
func (p *promServer) series(t *testing.T, q string) (int, error) {
	t.Helper()
	return p.query(q)
}

func (p *promServer) query(q string) (int, error) {
	resp, err := http.Get("http://" + p.addr + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("query %s: decode the answer: %w", q, err)
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("query %s: %s", q, body.Error)
	}
	switch body.Data.ResultType {
	case "vector", "matrix":
		var rs []json.RawMessage
		if err := json.Unmarshal(body.Data.Result, &rs); err != nil {
			return 0, err
		}
		return len(rs), nil
	}
	return 1, nil // a scalar or string is one value
}
