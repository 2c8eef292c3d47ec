// Package kubernetes holds the tests of cdcflow's Kubernetes manifests: every
// overlay renders with kustomize's default options (as kubectl apply -k
// does), every object decodes strictly into its Kubernetes or
// prometheus-operator type, the invariants docs/deployment.md promises hold,
// and every cdcflow container's command, flags, configuration file and
// variables load in the real binary.
package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the example's generated kustomization and mapping volume")

// root is the repository root, two levels above this package.
func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// overlays are the directories users apply; each must render and hold.
var overlays = []string{"standalone", "sidecar", "replay", "standby"}

// rendered is one overlay's objects, decoded into their types.
type rendered struct {
	name         string
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	jobs         []*batchv1.Job
	services     []*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	pdbs         []*policyv1.PodDisruptionBudget
	monitors     int
}

func render(t *testing.T, overlay string) *rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(root(t), "deploy", "kubernetes", "overlays", overlay))
	if err != nil {
		t.Fatalf("kustomize build overlays/%s: %v", overlay, err)
	}
	out := &rendered{name: overlay, configMaps: map[string]*corev1.ConfigMap{}}
	for _, r := range m.Resources() {
		js, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		where := fmt.Sprintf("overlays/%s: %s %s", overlay, r.GetKind(), r.GetName())
		switch r.GetKind() {
		case "Deployment":
			out.deployments = append(out.deployments, decodeStrict[appsv1.Deployment](t, where, js))
		case "StatefulSet":
			out.statefulSets = append(out.statefulSets, decodeStrict[appsv1.StatefulSet](t, where, js))
		case "Job":
			out.jobs = append(out.jobs, decodeStrict[batchv1.Job](t, where, js))
		case "Service":
			out.services = append(out.services, decodeStrict[corev1.Service](t, where, js))
		case "ConfigMap":
			cm := decodeStrict[corev1.ConfigMap](t, where, js)
			out.configMaps[cm.Name] = cm
		case "ServiceAccount":
			decodeStrict[corev1.ServiceAccount](t, where, js)
		case "PodDisruptionBudget":
			out.pdbs = append(out.pdbs, decodeStrict[policyv1.PodDisruptionBudget](t, where, js))
		case "ServiceMonitor":
			decodeStrict[monitoringv1.ServiceMonitor](t, where, js)
			out.monitors++
		case "PodMonitor":
			decodeStrict[monitoringv1.PodMonitor](t, where, js)
			out.monitors++
		case "PrometheusRule":
			decodeStrict[monitoringv1.PrometheusRule](t, where, js)
		default:
			t.Errorf("%s: no type to check this kind against; add it to the test", where)
		}
	}
	return out
}

// decodeStrict decodes js into a T, failing on any field T does not have.
func decodeStrict[T any](t *testing.T, where string, js []byte) *T {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	v := new(T)
	if err := dec.Decode(v); err != nil {
		t.Errorf("%s: does not decode strictly: %v", where, err)
	}
	return v
}

// workload is a Pod template of the overlay with the cdcflow container.
type workload struct {
	where    string
	kind     string
	replicas *int32
	own      bool // a cdcflow workload (not a sidecar host)
	pod      corev1.PodSpec
	cdcflow  corev1.Container
}

func (r *rendered) workloads(t *testing.T) []workload {
	var out []workload
	add := func(kind, name string, replicas *int32, labels map[string]string, pod corev1.PodSpec) {
		i := slices.IndexFunc(pod.Containers, func(c corev1.Container) bool { return c.Name == "cdcflow" })
		if i < 0 {
			return
		}
		out = append(out, workload{
			where: fmt.Sprintf("overlays/%s: %s %s", r.name, kind, name), kind: kind, replicas: replicas,
			own: labels["app.kubernetes.io/name"] == "cdcflow", pod: pod, cdcflow: pod.Containers[i],
		})
	}
	for _, d := range r.deployments {
		add("Deployment", d.Name, d.Spec.Replicas, d.Labels, d.Spec.Template.Spec)
	}
	for _, s := range r.statefulSets {
		add("StatefulSet", s.Name, s.Spec.Replicas, s.Labels, s.Spec.Template.Spec)
	}
	for _, j := range r.jobs {
		add("Job", j.Name, nil, j.Labels, j.Spec.Template.Spec)
	}
	if len(out) == 0 {
		t.Fatalf("overlays/%s: no workload runs a cdcflow container", r.name)
	}
	return out
}

func TestOverlays(t *testing.T) {
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) {
			r := render(t, o)
			for _, w := range r.workloads(t) {
				checkSecurity(t, w)
				checkVolumes(t, r, w)
				checkProbes(t, w)
				if args := w.cdcflow.Args; len(args) == 0 || w.cdcflow.Image != "cdcflow:latest" {
					t.Errorf("%s: container cdcflow has image %q args %q; want image cdcflow:latest and a command", w.where, w.cdcflow.Image, args)
				}
			}
			for _, d := range r.deployments {
				if d.Labels["app.kubernetes.io/component"] != "capture" {
					continue
				}
				if o == "standby" {
					checkStandbyCapture(t, r, d)
					continue
				}
				if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
					t.Errorf("overlays/%s: capture Deployment %s: want 1 replica and the Recreate strategy (a slot admits one reader)", o, d.Name)
				}
			}
			for _, s := range r.statefulSets {
				if s.Annotations["cdcflow.dev/sidecar"] == "true" && (s.Spec.Replicas == nil || *s.Spec.Replicas != 1) {
					t.Errorf("overlays/%s: StatefulSet %s carries the capture sidecar: want 1 replica", o, s.Name)
				}
			}
			for _, p := range r.pdbs {
				if p.Spec.MinAvailable != nil || p.Spec.MaxUnavailable == nil || p.Spec.MaxUnavailable.IntValue() != 1 {
					t.Errorf("overlays/%s: PodDisruptionBudget %s: want maxUnavailable: 1 and no minAvailable", o, p.Name)
				}
			}
			for _, j := range r.jobs {
				if j.Spec.BackoffLimit == nil || j.Spec.TTLSecondsAfterFinished == nil {
					t.Errorf("overlays/%s: Job %s: want backoffLimit and ttlSecondsAfterFinished", o, j.Name)
				}
			}
			for name, cm := range r.configMaps {
				n := 0
				for k, v := range cm.Data {
					n += len(k) + len(v)
				}
				if n > 1<<20-4096 { // the object limit is 1 MiB, metadata included
					t.Errorf("overlays/%s: ConfigMap %s holds %d bytes, too close to the 1 MiB object limit", o, name, n)
				}
			}
			checkServices(t, r)
		})
	}
}

func checkSecurity(t *testing.T, w workload) {
	t.Helper()
	sc, psc := w.cdcflow.SecurityContext, w.pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if sc == nil {
		t.Errorf("%s: container cdcflow has no securityContext", w.where)
		return
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation must be false", w.where)
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Errorf("%s: readOnlyRootFilesystem must be true", w.where)
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("%s: capabilities must drop ALL and add none", w.where)
	}
	if !isTrue(sc.RunAsNonRoot) && !isTrue(psc.RunAsNonRoot) {
		t.Errorf("%s: must run as non-root", w.where)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccompProfile must be RuntimeDefault", w.where)
	}
	if w.own {
		if w.pod.ServiceAccountName != "cdcflow" || !(w.pod.AutomountServiceAccountToken != nil && !*w.pod.AutomountServiceAccountToken) {
			t.Errorf("%s: want serviceAccountName cdcflow without a mounted token", w.where)
		}
	}
}

func checkVolumes(t *testing.T, r *rendered, w workload) {
	t.Helper()
	vols := map[string]corev1.Volume{}
	for _, v := range w.pod.Volumes {
		vols[v.Name] = v
		var cms []string
		if v.ConfigMap != nil {
			cms = append(cms, v.ConfigMap.Name)
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					cms = append(cms, s.ConfigMap.Name)
				}
			}
		}
		for _, cm := range cms {
			if _, ok := r.configMaps[cm]; !ok {
				t.Errorf("%s: volume %s names ConfigMap %s, which the overlay does not render", w.where, v.Name, cm)
			}
		}
	}
	writable := map[string]bool{}
	for _, m := range w.cdcflow.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			t.Errorf("%s: mount %s has no volume", w.where, m.Name)
			continue
		}
		if v.EmptyDir != nil || v.PersistentVolumeClaim != nil {
			writable[m.MountPath] = !m.ReadOnly
		}
	}
	for _, dir := range []string{"/tmp", "/var/lib/cdcflow"} {
		if !writable[dir] {
			t.Errorf("%s: %s must be a writable emptyDir or volume (the root filesystem is read-only)", w.where, dir)
		}
	}
}

func checkProbes(t *testing.T, w workload) {
	t.Helper()
	path := func(p *corev1.Probe) string {
		if p == nil || p.HTTPGet == nil {
			return ""
		}
		return p.HTTPGet.Path
	}
	if w.kind == "Job" {
		return
	}
	if path(w.cdcflow.LivenessProbe) != "/healthz" {
		t.Errorf("%s: want a liveness probe on /healthz", w.where)
	}
	// A capture sidecar must not take its host Pod out of the Service.
	if w.own && path(w.cdcflow.ReadinessProbe) != "/readyz" {
		t.Errorf("%s: want a readiness probe on /readyz", w.where)
	}
	if !w.own && w.cdcflow.ReadinessProbe != nil {
		t.Errorf("%s: a sidecar's readiness probe would take its host Pod out of service", w.where)
	}
}

func checkServices(t *testing.T, r *rendered) {
	t.Helper()
	var templates []map[string]string
	for _, d := range r.deployments {
		templates = append(templates, d.Spec.Template.Labels)
	}
	for _, s := range r.services {
	next:
		for _, l := range templates {
			for k, v := range s.Spec.Selector {
				if l[k] != v {
					continue next
				}
			}
			return
		}
		t.Errorf("overlays/%s: Service %s selects no Pod template", r.name, s.Name)
	}
}

// TestContainersLoad runs each cdcflow container's command line with -h (an
// unknown command or flag fails), and `cdcflow config print` and `cdcflow
// check --offline` with the container's variables and its mounted
// ConfigMaps and Secret laid out as the kubelet would (under a temporary
// directory that stands for /), so the configuration file, the mapping, its
// schemas and the views load in the real binary.
func TestContainersLoad(t *testing.T) {
	bin := testenv.Cdcflow(t)
	for _, o := range overlays {
		r := render(t, o)
		for _, w := range r.workloads(t) {
			t.Run(o+"/"+w.kind+"/"+strings.ReplaceAll(w.where[strings.LastIndex(w.where, " ")+1:], "/", "_"), func(t *testing.T) {
				fsRoot := t.TempDir()
				mountVolumes(t, r, w, fsRoot, true)
				env := containerEnv(t, w, fsRoot)
				runCdcflow(t, bin, env, append(slices.Clone(w.cdcflow.Args), "-h")...)
				out := runCdcflow(t, bin, env, "config", "print")
				if !strings.Contains(out, "dsn: <redacted>") {
					t.Errorf("%s: config print does not show the DSN read from the Secret:\n%s", w.where, out)
				}
				runCdcflow(t, bin, env, "check", "--offline")
			})
		}
	}
}

// mountVolumes writes the ConfigMaps and Secret w mounts under fsRoot, at
// their mount paths, as the kubelet would; Secret keys get example values.
// With rewrite, absolute container paths in what it writes are pointed into
// fsRoot (for running without chroot).
func mountVolumes(t *testing.T, r *rendered, w workload, fsRoot string, rewrite bool) {
	t.Helper()
	vols := map[string]corev1.Volume{}
	for _, v := range w.pod.Volumes {
		vols[v.Name] = v
	}
	write := func(path, content string) {
		p := filepath.Join(fsRoot, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if rewrite {
			content = strings.ReplaceAll(content, "/etc/cdcflow/", filepath.Join(fsRoot, "etc/cdcflow")+"/")
			content = strings.ReplaceAll(content, "/var/lib/cdcflow", filepath.Join(fsRoot, "var/lib/cdcflow"))
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	project := func(dir, cmName string, items []corev1.KeyToPath) {
		cm, ok := r.configMaps[cmName]
		if !ok {
			t.Fatalf("%s: ConfigMap %s not rendered", w.where, cmName)
		}
		if items == nil {
			for k, v := range cm.Data {
				write(filepath.Join(dir, k), v)
			}
			return
		}
		for _, it := range items {
			v, ok := cm.Data[it.Key]
			if !ok {
				t.Errorf("%s: item %s is not a key of ConfigMap %s", w.where, it.Key, cmName)
			}
			write(filepath.Join(dir, it.Path), v)
		}
	}
	for _, m := range w.cdcflow.VolumeMounts {
		v := vols[m.Name]
		switch {
		case v.ConfigMap != nil:
			project(m.MountPath, v.ConfigMap.Name, v.ConfigMap.Items)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					project(m.MountPath, s.ConfigMap.Name, s.ConfigMap.Items)
				}
			}
		case v.Secret != nil:
			// Every key a variable reads: the DSN, tokens.
			for _, e := range w.cdcflow.Env {
				if !strings.HasSuffix(e.Name, "_FILE") || !strings.HasPrefix(e.Value, m.MountPath+"/") {
					continue
				}
				content := "example-secret-of-" + e.Name
				if e.Name == "CDCFLOW_SOURCE_DSN_FILE" {
					content = "postgres://cdcflow@127.0.0.1:5432/orders?sslmode=disable"
				}
				write(e.Value, content)
			}
		case v.EmptyDir != nil:
			if err := os.MkdirAll(filepath.Join(fsRoot, m.MountPath), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// containerEnv is w's environment with paths pointed into fsRoot and
// Downward API values filled in; nothing of the test's own environment.
func containerEnv(t *testing.T, w workload, fsRoot string) []string {
	t.Helper()
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + fsRoot}
	for _, e := range w.cdcflow.Env {
		v := e.Value
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			v = "cdcflow-pod-0"
		case e.ValueFrom != nil:
			t.Errorf("%s: variable %s comes from a source the test does not lay out", w.where, e.Name)
		case strings.HasPrefix(v, "/etc/cdcflow/") || strings.HasPrefix(v, "/var/lib/cdcflow"):
			v = filepath.Join(fsRoot, v)
		}
		env = append(env, e.Name+"="+v)
	}
	return env
}

func runCdcflow(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("cdcflow %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestMappingVolume keeps the reference example's kustomization (its
// ConfigMap file list) and its mapping volume (items that project the flat
// schema keys into schemas/) equal to the schemas directory. Run with
// -update after adding a schema.
func TestMappingVolume(t *testing.T) {
	dir := filepath.Join(root(t), "deploy", "examples", "orders")
	entries, err := os.ReadDir(filepath.Join(dir, "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	var schemas []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			schemas = append(schemas, e.Name())
		}
	}
	sort.Strings(schemas)
	for _, f := range []struct{ name, want string }{
		{"kustomization.yaml", exampleKustomization(schemas)},
		{"volumes.yaml", exampleVolumes(schemas)},
	} {
		path := filepath.Join(dir, f.name)
		if *update {
			if err := os.WriteFile(path, []byte(f.want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != f.want {
			t.Errorf("%s is stale: it does not list the schemas directory; run go test ./deploy/kubernetes -run TestMappingVolume -update", path)
		}
	}
}

const generatedBy = "# Generated by go test ./deploy/kubernetes -run TestMappingVolume -update from\n# the schemas directory: do not edit by hand.\n"

func exampleKustomization(schemas []string) string {
	var b strings.Builder
	b.WriteString(`# The reference example's mapping, schemas and views as a kustomize
# Component: ConfigMaps cdcflow-mapping (mapping.yaml and every schema) and
# cdcflow-views, and the volumes (volumes.yaml) that lay them out as the
# mapping expects, /etc/cdcflow/mapping/mapping.yaml beside
# schemas/<Type>.v<N>.json, in every cdcflow workload and capture sidecar.
# ConfigMap keys cannot hold "/", so the schemas are flat keys projected into
# schemas/ by items. A ConfigMap holds at most 1 MiB.
`)
	b.WriteString(generatedBy)
	b.WriteString("apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nconfigMapGenerator:\n")
	b.WriteString("  - name: cdcflow-mapping\n    files:\n      - mapping.yaml\n")
	for _, s := range schemas {
		fmt.Fprintf(&b, "      - schemas/%s\n", s)
	}
	b.WriteString("  - name: cdcflow-views\n    files:\n      - views.yaml\n")
	b.WriteString(`patches:
  - path: volumes.yaml
    target:
      kind: (Deployment|Job)
      labelSelector: app.kubernetes.io/name=cdcflow
  - path: volumes.yaml
    target:
      kind: (Deployment|StatefulSet)
      annotationSelector: cdcflow.dev/sidecar=true
`)
	return b.String()
}

func exampleVolumes(schemas []string) string {
	var b strings.Builder
	b.WriteString(generatedBy)
	b.WriteString(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: any # the patch's targets are chosen in kustomization.yaml
spec:
  template:
    spec:
      volumes:
        - name: cdcflow-mapping
          projected:
            sources:
              - configMap:
                  name: cdcflow-mapping
                  items:
                    - {key: mapping.yaml, path: mapping.yaml}
`)
	for _, s := range schemas {
		fmt.Fprintf(&b, "                    - {key: %s, path: schemas/%s}\n", s, s)
	}
	b.WriteString("        - name: cdcflow-views\n          configMap: {name: cdcflow-views}\n")
	return b.String()
}

// checkStandbyCapture checks the capture Deployment of overlays/standby: an
// active instance and a standby (the capture lease elects one), replaced one
// at a time without ever going below the replica count, spread over nodes,
// under a disruption budget that lets a drain take one at a time.
func checkStandbyCapture(t *testing.T, r *rendered, d *appsv1.Deployment) {
	t.Helper()
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("overlays/standby: capture Deployment %s: want at least 2 replicas (active and standby)", d.Name)
	}
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("overlays/standby: capture Deployment %s: want the RollingUpdate strategy with maxUnavailable: 0 (standbys are ready)", d.Name)
	}
	a := d.Spec.Template.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		t.Errorf("overlays/standby: capture Deployment %s: want a pod anti-affinity spreading the replicas over nodes", d.Name)
	}
	found := false
	for _, p := range r.pdbs {
		if p.Spec.Selector != nil && p.Spec.Selector.MatchLabels["app.kubernetes.io/component"] == "capture" {
			found = true
		}
	}
	if !found {
		t.Errorf("overlays/standby: no PodDisruptionBudget selects the capture Pods")
	}
}
