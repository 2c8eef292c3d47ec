package status

import (
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/internal/thresholds"
)

func TestFormat(t *testing.T) {
	tests := []struct{ got, want string }{
		{bytesText(0), "0 B"},
		{bytesText(1023), "1023 B"},
		{bytesText(1536), "1.5 KiB"},
		{bytesText(16 << 30), "16.0 GiB"},
		{durText(-time.Second), "0s"},
		{durText(1234 * time.Millisecond), "1.2s"},
		{durText(90*time.Second + 400*time.Millisecond), "1m30s"},
		{durThreshold(thresholds.Durations{Warn: time.Minute, Fail: 5 * time.Minute}), "warn > 1m0s, fail > 5m0s"},
		{durThreshold(thresholds.Durations{Warn: time.Minute}), "warn > 1m0s"},
		{bytesThreshold(thresholds.Bytes{Warn: 1 << 30, Fail: 16 << 30}), "warn > 1.0 GiB, fail > 16.0 GiB"},
		{recordsThreshold(thresholds.Records{Warn: 10000}), "warn > 10000"},
		{walThreshold(thresholds.WALStatus{Fail: []string{"unreserved", "lost"}}), "fail: unreserved, lost"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%d: got %q; want %q", i, tt.got, tt.want)
		}
	}
}

// The built-in thresholds judge as the alerts do: a value equal to a
// threshold is still ok.
func TestVerdictOf(t *testing.T) {
	th := thresholds.Default()
	tests := []struct {
		got  Verdict
		want Verdict
	}{
		{verdictOf(th.SourceLag.Verdict(th.SourceLag.Warn)), OK},
		{verdictOf(th.SourceLag.Verdict(th.SourceLag.Warn + time.Second)), Warn},
		{verdictOf(th.SourceLag.Verdict(th.SourceLag.Fail + time.Second)), Fail},
		{verdictOf(th.SlotWALStatus.Verdict("lost")), Fail},
		{verdictOf(th.SlotWALStatus.Verdict("reserved")), OK},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%d: verdict %s; want %s", i, tt.got, tt.want)
		}
	}
}
