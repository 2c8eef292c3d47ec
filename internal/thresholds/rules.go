package thresholds

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The alert names, one per case the runbook covers. A case with a warning
// and a critical threshold has two rules with the same name and different
// severities. The runbook's section for an alert has the alert's name as
// its heading, so its anchor is the name in lower case.
const (
	AlertSlotRetainedWAL      = "CdcflowSlotRetainedWALHigh"
	AlertSlotWALStatus        = "CdcflowSlotWALAtRisk"
	AlertSourceLag            = "CdcflowSourceLagHigh"
	AlertHeartbeatStalled     = "CdcflowHeartbeatStalled"
	AlertSourceRetrying       = "CdcflowSourceUnreachable"
	AlertDown                 = "CdcflowDown"
	AlertNotReady             = "CdcflowNotReady"
	AlertKafkaAckStalled      = "CdcflowKafkaAckStalled"
	AlertEventsDeadLettered   = "CdcflowEventsDeadLettered"
	AlertViewsDeadLettered    = "CdcflowViewsDeadLettered"
	AlertTransactionsAborting = "CdcflowTransactionsAborting"
	AlertViewsStale           = "CdcflowViewsStale"
	AlertConsumerLagGrowing   = "CdcflowViewsConsumerLagGrowing"
	AlertSnapshotStalled      = "CdcflowSnapshotStalled"
	AlertReplayStalled        = "CdcflowReplayStalled"
	AlertRestarting           = "CdcflowRestarting"
	AlertCaptureTakeovers     = "CdcflowCaptureTakingOverOften"
)

// RuleFileName and PrometheusRuleFileName are the generated files, relative
// to the repository root.
const (
	RuleFileName           = "deploy/prometheus/cdcflow.rules.yaml"
	PrometheusRuleFileName = "deploy/prometheus/prometheusrule.yaml"
)

// Rule is one Prometheus alerting rule.
type Rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// Rules returns the alerting rules, in a fixed order: for each case of the
// runbook, its warning rule, then its critical rule.
func (t Thresholds) Rules() []Rule {
	var rs []Rule
	add := func(alert string, v Verdict, expr string, forDur time.Duration, summary, description string) {
		r := Rule{
			Alert:  alert,
			Expr:   expr,
			Labels: map[string]string{"severity": v.Severity()},
			Annotations: map[string]string{
				"summary":     summary,
				"description": description,
				"runbook_url": t.Runbook + "#" + strings.ToLower(alert),
			},
		}
		if forDur > 0 {
			r.For = promDuration(forDur)
		}
		rs = append(rs, r)
	}
	// each adds the warning rule and, when fail is set, the critical one;
	// expr and description are formats taking the threshold (and desc the
	// threshold as people read it).
	each := func(alert string, warn, fail float64, readable func(float64) string, forDur time.Duration, expr, summary, desc string) {
		add(alert, Warn, fmt.Sprintf(expr, num(warn)), forDur, summary, fmt.Sprintf(desc, readable(warn)))
		if fail > 0 {
			add(alert, Fail, fmt.Sprintf(expr, num(fail)), forDur, summary, fmt.Sprintf(desc, readable(fail)))
		}
	}
	secs := func(d time.Duration) float64 { return d.Seconds() }
	dur := func(s float64) string { return promDuration(time.Duration(s * float64(time.Second))) }
	size := func(b float64) string { return strconv.FormatFloat(b/(1<<30), 'f', -1, 64) + " GiB" }
	for_ := func(d time.Duration) string {
		if d == 0 {
			return ""
		}
		return " for " + promDuration(d)
	}

	s := t.SlotRetainedWAL
	grow := ""
	if s.Growing > 0 {
		grow = fmt.Sprintf(" and deriv(cdcflow_capture_slot_retained_wal_bytes[%s]) > 0", promDuration(s.Growing))
	}
	add(AlertSlotRetainedWAL, Warn,
		fmt.Sprintf("cdcflow_capture_slot_retained_wal_bytes > %s%s", num(float64(s.Warn)), grow), s.For,
		"The replication slot holds much WAL on the source, and more and more",
		fmt.Sprintf("The slot of {{ $labels.instance }} retains {{ $value | humanize1024 }}B of WAL (above %s, growing over %s%s): PostgreSQL cannot remove it until cdcflow confirms past it.",
			size(float64(s.Warn)), promDuration(s.Growing), for_(s.For)))
	if s.Fail > 0 {
		add(AlertSlotRetainedWAL, Fail,
			fmt.Sprintf("cdcflow_capture_slot_retained_wal_bytes > %s", num(float64(s.Fail))), s.For,
			"The replication slot holds very much WAL on the source",
			fmt.Sprintf("The slot of {{ $labels.instance }} retains {{ $value | humanize1024 }}B of WAL (above %s%s): the source's disk fills until cdcflow confirms past it.",
				size(float64(s.Fail)), for_(s.For)))
	}

	for _, l := range []struct {
		v    Verdict
		list []string
	}{{Warn, t.SlotWALStatus.Warn}, {Fail, t.SlotWALStatus.Fail}} {
		if len(l.list) == 0 {
			continue
		}
		add(AlertSlotWALStatus, l.v,
			fmt.Sprintf(`cdcflow_capture_slot_wal_status{wal_status=~%q} == 1`, strings.Join(l.list, "|")), 0,
			"The WAL the replication slot needs is about to be removed, or was",
			`The slot of {{ $labels.instance }} has wal_status {{ $labels.wal_status }}: "unreserved" means PostgreSQL will remove WAL the slot still needs at the next checkpoint (max_slot_wal_keep_size), "lost" that it did and the slot cannot be used any more.`)
	}

	each(AlertSourceLag, secs(t.SourceLag.Warn), secs(t.SourceLag.Fail), dur, t.SourceLag.For,
		"cdcflow_capture_slot_lag_seconds > %s",
		"Capture is far behind the source database",
		"The slot of {{ $labels.instance }} confirms changes {{ $value | humanizeDuration }} after they were written (above %s"+for_(t.SourceLag.For)+").")

	each(AlertHeartbeatStalled, secs(t.HeartbeatAge.Warn), secs(t.HeartbeatAge.Fail), dur, t.HeartbeatAge.For,
		"time() - cdcflow_capture_last_heartbeat_timestamp_seconds > %s and cdcflow_capture_last_heartbeat_timestamp_seconds > 0",
		"Capture's heartbeats no longer advance the slot",
		"The last heartbeat of {{ $labels.instance }} that advanced the slot is {{ $value | humanizeDuration }} old (above %s"+for_(t.HeartbeatAge.For)+").")

	each(AlertSourceRetrying, secs(t.SourceRetrying.Warn), secs(t.SourceRetrying.Fail), dur, 0,
		"time() - cdcflow_capture_retrying_since_timestamp_seconds > %s and cdcflow_capture_retrying_since_timestamp_seconds > 0",
		"Capture cannot open a replication session",
		"{{ $labels.instance }} has been failing to open a replication session on the source for {{ $value | humanizeDuration }} (above %s).")

	add(AlertDown, Fail, fmt.Sprintf(`up{job=~%q} == 0`, t.Down.Job), t.Down.For,
		"A cdcflow process cannot be scraped",
		fmt.Sprintf("Prometheus cannot scrape {{ $labels.instance }} (job {{ $labels.job }})%s: the process is down or its metrics address unreachable.", for_(t.Down.For)))
	add(AlertNotReady, Warn, "cdcflow_ready == 0", t.Down.For,
		"A cdcflow process is not ready",
		fmt.Sprintf("{{ $labels.instance }} answers /readyz with 503%s: it runs but does not move data.", for_(t.Down.For)))

	each(AlertKafkaAckStalled, secs(t.KafkaAck.Warn), secs(t.KafkaAck.Fail), dur, 0,
		"time() - cdcflow_kafka_last_ack_timestamp_seconds > %s and on(instance, job) (cdcflow_kafka_inflight_records > 0 or cdcflow_backpressure_queue_records > 0)",
		"Kafka no longer acknowledges cdcflow's records",
		"Kafka's last acknowledgement to {{ $labels.instance }} is {{ $value | humanizeDuration }} old (above %s) while records wait for one.")

	win := promDuration(t.DeadLetters.Window)
	add(AlertEventsDeadLettered, Warn, newIncrease("cdcflow_kafka_dead_letters_total", win), 0,
		"Changes were dead-lettered instead of published",
		fmt.Sprintf("{{ $labels.instance }} sent {{ printf \"%%.0f\" $value }} record(s) of kind {{ $labels.kind }} to the dead-letter topic in the last %s.", win))
	add(AlertViewsDeadLettered, Warn, newIncrease("cdcflow_views_dead_letters_total", win), 0,
		"Events were dead-lettered instead of applied to the views",
		fmt.Sprintf("{{ $labels.instance }} sent {{ printf \"%%.0f\" $value }} record(s) of topic {{ $labels.topic }} to the views' dead-letter topic in the last %s.", win))

	win = promDuration(t.TransactionAborts.Window)
	add(AlertTransactionsAborting, Warn, newIncrease(`cdcflow_kafka_transactions_total{outcome=~"aborted|unknown"}`, win), 0,
		"Exactly-once Kafka transactions are aborting",
		fmt.Sprintf("{{ $labels.instance }} ended {{ printf \"%%.0f\" $value }} Kafka transaction(s) with outcome {{ $labels.outcome }} in the last %s.", win))

	each(AlertViewsStale, secs(t.ViewsStaleness.Warn), secs(t.ViewsStaleness.Fail), dur, t.ViewsStaleness.For,
		"cdcflow_views_staleness_seconds > %s",
		"The views are far behind the source",
		"The views of {{ $labels.instance }} on partition {{ $labels.partition }} show the source as it was {{ $value | humanizeDuration }} ago (above %s"+for_(t.ViewsStaleness.For)+").")

	c := t.ConsumerLag
	grow = ""
	if c.Growing > 0 {
		grow = fmt.Sprintf(" and deriv(cdcflow_views_consumer_lag_records[%s]) > 0", promDuration(c.Growing))
	}
	add(AlertConsumerLagGrowing, Warn, fmt.Sprintf("cdcflow_views_consumer_lag_records > %s%s", num(float64(c.Warn)), grow), c.For,
		"The views fall further and further behind Kafka",
		fmt.Sprintf("{{ $labels.instance }} has {{ $value }} records of {{ $labels.topic }}[{{ $labels.partition }}] not yet applied (above %d, growing over %s%s).", c.Warn, promDuration(c.Growing), for_(c.For)))

	each(AlertSnapshotStalled, secs(t.SnapshotStall.Warn), secs(t.SnapshotStall.Fail), dur, 0,
		"time() - cdcflow_capture_snapshot_last_progress_timestamp_seconds > %s and on(instance, job) cdcflow_capture_snapshot_tables_remaining > 0",
		"The initial snapshot stopped progressing",
		"The snapshot of {{ $labels.instance }} has not read a row for {{ $value | humanizeDuration }} (above %s) with tables left.")

	each(AlertReplayStalled, secs(t.ReplayStall.Warn), secs(t.ReplayStall.Fail), dur, 0,
		"time() - cdcflow_views_replay_last_progress_timestamp_seconds > %s and on(instance, job) (cdcflow_views_replay_events_done < cdcflow_views_replay_events_total)",
		"A view replay stopped progressing",
		"The replay of {{ $labels.instance }} has not applied a record for {{ $value | humanizeDuration }} (above %s) with records left.")

	win = promDuration(t.Restarts.Window)
	add(AlertRestarting, Warn, fmt.Sprintf(`changes(process_start_time_seconds{job=~%q}[%s]) > %d`, t.Down.Job, win, t.Restarts.Warn), 0,
		"A cdcflow process keeps restarting",
		fmt.Sprintf("{{ $labels.instance }} restarted {{ printf \"%%.0f\" $value }} times in the last %s (above %d).", win, t.Restarts.Warn))

	// Each instance takes the lease at most once in its life, so the
	// takeovers of one deployment are the sum over its instances' series.
	win = promDuration(t.Takeovers.Window)
	add(AlertCaptureTakeovers, Warn, fmt.Sprintf(`sum by (namespace, job) (increase(cdcflow_capture_takeovers_total[%s])) > %d`, win, t.Takeovers.Warn), 0,
		"Capture keeps changing its active instance",
		fmt.Sprintf("The capture instances of {{ $labels.job }} took over from each other {{ printf \"%%.0f\" $value }} times in the last %s (above %d): the active ones die, freeze or lose their lease session.", win, t.Takeovers.Warn))
	return rs
}

// newIncrease is the PromQL for "the counter grew within win", counting a
// series that appeared within win too: increase() needs two samples, so the
// first increment of a label set that did not exist before is otherwise
// never seen.
func newIncrease(series, win string) string {
	return fmt.Sprintf("increase(%s[%s]) > 0 or (%s > 0 unless %s offset %s)", series, win, series, series, win)
}

// num formats a threshold for PromQL: an integer without exponent when it
// is one.
func num(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// promDuration formats d as Prometheus writes a duration: "1h30m", "5m",
// "30s" (whole seconds; Parse refuses anything finer).
func promDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		unit string
		d    time.Duration
	}{{"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.unit)
			d -= n * u.d
		}
	}
	return b.String()
}

// generatedHeader opens every generated file.
const generatedHeader = "# Code generated by `go generate ./internal/thresholds` from internal/thresholds/thresholds.yaml. DO NOT EDIT.\n"

// RuleGroup is the group name of the rules.
const RuleGroup = "cdcflow"

type ruleGroup struct {
	Name  string `yaml:"name"`
	Rules []Rule `yaml:"rules"`
}

type ruleFile struct {
	Groups []ruleGroup `yaml:"groups"`
}

// RuleFile returns the Prometheus rule file (RuleFileName) for the
// thresholds.
func (t Thresholds) RuleFile() ([]byte, error) {
	return marshal(ruleFile{Groups: []ruleGroup{{Name: RuleGroup, Rules: t.Rules()}}})
}

// PrometheusRuleFile returns the same rules as a Prometheus operator
// PrometheusRule resource (PrometheusRuleFileName).
func (t Thresholds) PrometheusRuleFile() ([]byte, error) {
	type meta struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels,omitempty"`
	}
	type resource struct {
		APIVersion string   `yaml:"apiVersion"`
		Kind       string   `yaml:"kind"`
		Metadata   meta     `yaml:"metadata"`
		Spec       ruleFile `yaml:"spec"`
	}
	return marshal(resource{
		APIVersion: "monitoring.coreos.com/v1",
		Kind:       "PrometheusRule",
		Metadata:   meta{Name: t.PrometheusRule.Name, Labels: t.PrometheusRule.Labels},
		Spec:       ruleFile{Groups: []ruleGroup{{Name: RuleGroup, Rules: t.Rules()}}},
	})
}

// Files returns the generated files by their path from the repository root.
func (t Thresholds) Files() (map[string][]byte, error) {
	rules, err := t.RuleFile()
	if err != nil {
		return nil, err
	}
	pr, err := t.PrometheusRuleFile()
	if err != nil {
		return nil, err
	}
	return map[string][]byte{RuleFileName: rules, PrometheusRuleFileName: pr}, nil
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(generatedHeader)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode rules: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode rules: %w", err)
	}
	return b.Bytes(), nil
}
