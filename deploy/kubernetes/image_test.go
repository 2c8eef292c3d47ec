package kubernetes

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestImage checks the container image's content on every machine. It
// assembles the build context with scripts/image-context.sh (as `make image`
// does), checks the Dockerfile pulls nothing (FROM scratch) and runs as a
// numeric non-root user, and then runs `cdcflow version`, `cdcflow config
// print` and `cdcflow check --offline` in the image: with docker when a
// daemon answers, otherwise in the image's files under chroot (as root, the
// way CI runs), with the replay Job's ConfigMaps and Secret mounted where its
// manifest mounts them. The chroot has no time-zone database and no CA
// directory but the image's, so it proves the binary embeds what it needs.
func TestImage(t *testing.T) {
	ctxDir := t.TempDir()
	script := filepath.Join(root(t), "scripts", "image-context.sh")
	if out, err := exec.Command(script, ctxDir).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	img := parseDockerfile(t, filepath.Join(ctxDir, "Dockerfile"))

	// A client without a daemon fails at once; bound it anyway.
	ictx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if exec.CommandContext(ictx, "docker", "info").Run() == nil {
		runDocker(t, ctxDir)
		return
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("image test: no Docker daemon and not root: CI must run as root to chroot into the image")
		}
		t.Skip("image test: no Docker daemon here and not root, so the image's files cannot be run under chroot")
	}

	// The image's file system, as the Dockerfile's COPY lines make it.
	fsRoot := t.TempDir()
	if err := os.Chmod(fsRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range img.copies {
		dst := filepath.Join(fsRoot, c.dst)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(ctxDir, c.src))
		if err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if c.src == "cdcflow" {
			mode = 0o755
		}
		if err := os.WriteFile(dst, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	// The replay Job's volumes, at their paths in the container.
	r := render(t, "replay")
	w := r.workloads(t)[0]
	mountVolumes(t, r, w, fsRoot, false)
	var env []string
	for _, e := range w.cdcflow.Env {
		env = append(env, e.Name+"="+e.Value)
	}

	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, img.entrypoint, args...)
		cmd.Env = env
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Chroot:     fsRoot,
			Credential: &syscall.Credential{Uid: img.uid, Gid: img.gid},
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("in the image (chroot, uid %d): cdcflow %s: %v\n%s", img.uid, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := run("version"); !strings.HasPrefix(out, "cdcflow ") {
		t.Errorf("cdcflow version in the image printed %q", out)
	}
	if out := run("config", "print"); !strings.Contains(out, "timezone: Europe/Berlin") {
		t.Errorf("cdcflow config print in the image does not show the configured time zone:\n%s", out)
	}
	run("check", "--offline")
}

// dockerfile is what TestImage needs of the Dockerfile.
type dockerfile struct {
	copies     []struct{ src, dst string }
	uid, gid   uint32
	entrypoint string
}

func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var d dockerfile
	froms := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			froms++
			if len(fields) != 2 || fields[1] != "scratch" {
				t.Errorf("Dockerfile: %q: the image must be FROM scratch (nothing pulled from a registry)", line)
			}
		case "COPY":
			if len(fields) != 3 || strings.HasPrefix(fields[1], "--from") {
				t.Errorf("Dockerfile: %q: want COPY <file of the context> <path>", line)
				continue
			}
			d.copies = append(d.copies, struct{ src, dst string }{fields[1], fields[2]})
		case "USER":
			ug := strings.SplitN(fields[1], ":", 2)
			u, err1 := strconv.ParseUint(ug[0], 10, 32)
			g, err2 := strconv.ParseUint(ug[len(ug)-1], 10, 32)
			if err1 != nil || err2 != nil || u == 0 {
				t.Errorf("Dockerfile: %q: want a numeric non-root USER uid:gid (Kubernetes' runAsNonRoot checks numbers)", line)
			}
			d.uid, d.gid = uint32(u), uint32(g)
		case "ENTRYPOINT":
			d.entrypoint = strings.Trim(strings.TrimPrefix(line, fields[0]), ` []"`)
		}
	}
	if froms != 1 || d.uid == 0 || d.entrypoint != "/cdcflow" {
		t.Fatalf("Dockerfile: want one FROM scratch, a numeric non-root USER and ENTRYPOINT [\"/cdcflow\"]; got %+v", d)
	}
	return d
}

func runDocker(t *testing.T, ctxDir string) {
	t.Helper()
	const tag = "cdcflow:image-test"
	if out, err := exec.Command("docker", "build", "-t", tag, ctxDir).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"version"}, {"config", "print"}} {
		cmd := exec.Command("docker", append([]string{"run", "--rm", "--read-only", "-e", "CDCFLOW_SOURCE_TIMEZONE=Europe/Berlin", tag}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("docker run %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
