package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var builtCdcflow struct {
	mu   sync.Mutex
	path string
	err  error
}

// Cdcflow builds ./cmd/cdcflow of this module and returns the binary's
// path. With Main running the test binary, it builds once per test process
// into a directory removed after the tests; otherwise once per test, into
// t.TempDir. A failed build fails the test with the compiler's output.
func Cdcflow(t testing.TB) string {
	t.Helper()
	if !mainCalled.Load() {
		path, err := buildCdcflow(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	builtCdcflow.mu.Lock()
	defer builtCdcflow.mu.Unlock()
	if builtCdcflow.path == "" && builtCdcflow.err == nil {
		dir, err := os.MkdirTemp("", "cdcflow-bin-")
		if err != nil {
			builtCdcflow.err = fmt.Errorf("create build dir: %w", err)
		} else {
			addStopper(func() error { return os.RemoveAll(dir) })
			builtCdcflow.path, builtCdcflow.err = buildCdcflow(dir)
		}
	}
	if builtCdcflow.err != nil {
		t.Fatal(builtCdcflow.err)
	}
	return builtCdcflow.path
}

// buildCdcflow runs go build for ./cmd/cdcflow at the module root into dir.
func buildCdcflow(dir string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	goBin := goTool()
	out, err := exec.CommandContext(ctx, goBin, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module root with go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("find the module root: go env GOMOD is %q; run the tests inside the cdcflow module", gomod)
	}
	path := filepath.Join(dir, "cdcflow")
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", path, "./cmd/cdcflow")
	cmd.Dir = filepath.Dir(gomod)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/cdcflow: %w\n%s", err, stderr.String())
	}
	return path, nil
}

// goTool returns the go command: the one in PATH, else the one in
// $GOROOT/bin, else the one in /usr/local/go/bin where the README installs
// Go.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "/usr/local/go/bin/go"
}
