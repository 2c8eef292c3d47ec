package status

import (
	"fmt"
	"strings"
	"time"

	"github.com/cdcflow/cdcflow/internal/thresholds"
)

// bytesText prints n bytes with a binary unit.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	f, units := float64(n), []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	i := -1
	for (f >= unit || f <= -unit) && i < len(units)-1 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// durText prints d rounded to what a reader needs.
func durText(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// durThreshold prints duration thresholds as "warn > 1m0s, fail > 5m0s".
func durThreshold(t thresholds.Durations) string {
	return limits(durText(t.Warn), t.Warn > 0, durText(t.Fail), t.Fail > 0)
}

func bytesThreshold(t thresholds.Bytes) string {
	return limits(bytesText(t.Warn), t.Warn > 0, bytesText(t.Fail), t.Fail > 0)
}

func recordsThreshold(t thresholds.Records) string {
	return limits(fmt.Sprintf("%d", t.Warn), true, "", false)
}

func walThreshold(t thresholds.WALStatus) string {
	var parts []string
	if len(t.Warn) > 0 {
		parts = append(parts, "warn: "+strings.Join(t.Warn, ", "))
	}
	if len(t.Fail) > 0 {
		parts = append(parts, "fail: "+strings.Join(t.Fail, ", "))
	}
	return strings.Join(parts, "; ")
}

func limits(warn string, hasWarn bool, fail string, hasFail bool) string {
	var parts []string
	if hasWarn {
		parts = append(parts, "warn > "+warn)
	}
	if hasFail {
		parts = append(parts, "fail > "+fail)
	}
	return strings.Join(parts, ", ")
}
