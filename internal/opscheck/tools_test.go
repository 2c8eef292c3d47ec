package opscheck

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// root is the repository root, from this package's folder.
var root = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}()

// repoFile returns the path of a file given from the repository root.
func repoFile(name string) string { return filepath.Join(root, filepath.FromSlash(name)) }

// tool returns the path of a program from Debian's prometheus package: the
// test is skipped with the install hint when it is missing, or fails under
// CI=true (a CI run never passes by skipping).
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		msg := name + " not found (install Debian's prometheus package: apt-get install --no-install-recommends prometheus; scripts/setup.sh does)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

// run runs a program in dir and returns its combined output and error.
func run(dir, prog string, args ...string) (string, error) {
	cmd := exec.Command(prog, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return out.String(), err // not started
	}
	return out.String(), err
}
