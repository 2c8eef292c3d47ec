package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/testenv"
	"github.com/cdcflow/cdcflow/sinks/redisview"
)

// TestIntegrationReplayKilledAtEachPhase kills `cdcflow replay` with SIGKILL
// in each of its phases: (a) during the first pass, (b) in a catch-up
// round, (c) after the swap, in the grace period, (d) while it deletes the
// old generation. Each phase is reached deterministically: the replay
// pauses there (CDCFLOW_TEST_REPLAY_PAUSE) and says so in its log. After
// each kill the next replay must leave exactly one generation in Redis, the
// pointer's, with no key of any other (it collects what the dead replay
// left, and resumes the generation it was building), and every view must
// equal what SQL says, while `cdcflow run` and a live `cdcflow materialize`
// keep running.
func TestIntegrationReplayKilledAtEachPhase(t *testing.T) {
	s := newViewsE2E(t, viewsE2EOptions{})
	s.awaitEqual(90*time.Second, "after the snapshot")
	// Enough events for several polls (1000 records each) in the first
	// pass, so that a catch-up round follows it, and for an old generation
	// of more than one deletion slice (500 keys).
	s.load(900, 1)
	s.awaitEqual(120*time.Second, "after the workload")
	ctx := t.Context()
	prefix := s.envValue("CDCFLOW_VIEWS_PREFIX")
	const grace = "3s"

	for _, phase := range []string{"pass", "catch-up", "grace", "delete"} {
		t.Run(phase, func(t *testing.T) {
			parent := s.t
			s.t = t // the checks fail this subtest
			defer func() { s.t = parent }()
			cur, err := redisview.CurrentGeneration(ctx, s.rdb, prefix)
			if err != nil {
				t.Fatal(err)
			}
			// The dead replay builds cur+1; killed after its swap, cur+1 is live.
			live := cur
			if phase == "grace" || phase == "delete" {
				live = cur + 1
			}

			metricsAddr := freeAddr(t)
			killed, logPath := startReplay(t, append(slices.Clip(s.env), "CDCFLOW_METRICS_ADDR="+metricsAddr), phase, "--grace="+grace)
			testenv.Await(t, 120*time.Second, "replay to pause in phase "+phase, func() (bool, error) {
				b, err := os.ReadFile(logPath)
				return strings.Contains(string(b), "test pause") && strings.Contains(string(b), "phase="+phase), err
			})
			if phase == "pass" {
				// A replay Job is scraped like any other process: its
				// progress is what the replay-stall alert watches.
				checkReplayMetrics(t, metricsAddr)
			}
			if err := killed.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = killed.Wait()

			// What the kill left: the pointer's generation, the one the dead
			// replay built (and, after the swap, the one it swapped out).
			if g, err := redisview.CurrentGeneration(ctx, s.rdb, prefix); err != nil || g != live {
				t.Fatalf("%s: after the kill the pointer names generation %d, %v; want %d", phase, g, err, live)
			}
			gens, err := redisview.Generations(ctx, s.rdb, prefix)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(gens, cur) || !slices.Contains(gens, cur+1) {
				t.Fatalf("%s: after the kill generations %v; want %d and %d among them", phase, gens, cur, cur+1)
			}
			t.Logf("%s: replay killed; generations %v, pointer at %d", phase, gens, live)
			// A replay killed after its swap holds the old generation for its
			// grace period; its hold expires with the period.
			testenv.Await(t, 30*time.Second, "the dead replay's hold on the old generation to expire", func() (bool, error) {
				n, err := s.rdb.Exists(ctx, prefix+"grace:g"+strconv.FormatInt(cur, 10)).Result()
				return n == 0, err
			})

			// The next replay, to its end.
			next := live + 1
			replay := exec.CommandContext(ctx, testenv.Cdcflow(t), "replay", "--progress=false", "--grace="+grace)
			replay.Env = append(os.Environ(), s.env...)
			out, err := replay.CombinedOutput()
			if err != nil || !strings.Contains(string(out), fmt.Sprintf("generation %d is live", next)) {
				t.Fatalf("%s: the replay after the kill = %v; want generation %d live:\n%s", phase, err, next, out)
			}
			if others := otherGenerationKeys(t, s, prefix, next); len(others) > 0 {
				t.Errorf("%s: after the next replay, keys of other generations than %d are left: %v", phase, next, others)
			}
			s.minGen = next
			s.awaitEqual(90*time.Second, fmt.Sprintf("%s: generation %d after a replay killed there", phase, next))
		})
	}
}

// startReplay starts `cdcflow replay` told to pause in phase, its output in
// a log file whose path it returns.
func startReplay(t *testing.T, env []string, phase string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "replay-"+phase+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	cmd := exec.Command(testenv.Cdcflow(t), append([]string{"replay", "--progress=false"}, args...)...)
	cmd.Env = append(append(os.Environ(), env...), testPauseEnv+"="+phase)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("cdcflow replay (pause at %s) output:\n%s", phase, b)
		}
	})
	return cmd, logPath
}

// otherGenerationKeys returns the keys under prefix that belong to a
// generation other than gen (the pointer and nothing else may be outside
// it; a grace hold left would be one too).
func otherGenerationKeys(t *testing.T, s *viewsE2E, prefix string, gen int64) []string {
	t.Helper()
	ks, err := s.rdb.Keys(t.Context(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	own := ":g" + strconv.FormatInt(gen, 10) + ":"
	var out []string
	for _, k := range ks {
		rest := strings.TrimPrefix(k, prefix)
		if rest == "generation" {
			continue
		}
		if _, after, ok := strings.Cut(rest, "}"); ok && strings.HasPrefix(after, own) {
			continue
		}
		out = append(out, k)
	}
	slices.Sort(out)
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("… %d in all", len(out)))
	}
	return out
}

// checkReplayMetrics reads the /metrics of a running replay and checks that it
// shows the process and the replay's progress.
func checkReplayMetrics(t *testing.T, addr string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("the paused replay serves no metrics on %s: %v", addr, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`cdcflow_up{command="replay",version=`, "cdcflow_ready 1",
		"cdcflow_views_replay_last_progress_timestamp_seconds ", "cdcflow_views_events_applied_total{"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the replay's /metrics lacks %s", want)
		}
	}
}
