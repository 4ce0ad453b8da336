// Package deploy holds no code: its tests check the example manifests and
// monitoring rules under deploy/ (they parse, the alerts fire when they
// should, and the Kubernetes, Prometheus and ferry settings agree), and the
// release files next to them.
package deploy

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// decodeAll decodes every YAML document of a file.
func decodeAll(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, len(docs)+1, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

func decodeOne(t *testing.T, path string) map[string]any {
	t.Helper()
	docs := decodeAll(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: %d YAML documents, want 1", path, len(docs))
	}
	return docs[0]
}

// at walks a decoded document by keys (maps) and indexes (lists); nil when
// a step is missing.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any, path ...any) string {
	s, _ := at(v, path...).(string)
	return s
}

// TestManifestsParse: every YAML file under deploy/ decodes, and every
// Kubernetes object names its apiVersion, kind and name.
func TestManifestsParse(t *testing.T) {
	n := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return err
		}
		n++
		docs := decodeAll(t, path)
		if len(docs) == 0 {
			t.Errorf("%s: no YAML document", path)
		}
		if filepath.Dir(path) != filepath.Join("kubernetes") || filepath.Base(path) == "ferry.yaml" {
			return nil
		}
		for i, doc := range docs {
			if str(doc, "apiVersion") == "" || str(doc, "kind") == "" {
				t.Errorf("%s: document %d: no apiVersion or kind", path, i+1)
			}
			if str(doc, "kind") != "Kustomization" && str(doc, "metadata", "name") == "" {
				t.Errorf("%s: document %d: no metadata.name", path, i+1)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("only %d YAML files found under deploy/", n)
	}
	for _, r := range at(decodeOne(t, "kubernetes/kustomization.yaml"), "resources").([]any) {
		if _, err := os.Stat(filepath.Join("kubernetes", r.(string))); err != nil {
			t.Errorf("kustomization resource: %v", err)
		}
	}
}

// promtool returns the path of promtool: a skip without it, a failure in
// CI (.ci/run installs the Debian package prometheus, which has it).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found (CI=true): install the Debian package prometheus")
		}
		t.Skip("promtool not found: install the Debian package prometheus to test the alerts")
	}
	return p
}

var alertTests = []string{"ferry-alerts.test.yaml", "ferry-alerts-week.test.yaml"}

// TestAlertRules runs promtool on the alerting rules: they are valid, and
// every unit test in the .test.yaml files passes.
func TestAlertRules(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", "ferry-alerts.yaml"},
		slices.Concat([]string{"test", "rules"}, alertTests),
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = "prometheus"
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestAlertTestsCoverEveryAlert: each alert has a unit test case where it
// fires and one where it does not.
func TestAlertTestsCoverEveryAlert(t *testing.T) {
	var alerts []string
	for _, g := range at(decodeOne(t, "prometheus/ferry-alerts.yaml"), "groups").([]any) {
		for _, r := range at(g, "rules").([]any) {
			if a := str(r, "alert"); a != "" {
				alerts = append(alerts, a)
			}
		}
	}
	fires, quiet := map[string]int{}, map[string]int{}
	for _, f := range alertTests {
		doc := decodeOne(t, filepath.Join("prometheus", f))
		if rf, _ := at(doc, "rule_files").([]any); len(rf) != 1 || rf[0] != "ferry-alerts.yaml" {
			t.Errorf("%s: rule_files %v, want [ferry-alerts.yaml]", f, rf)
		}
		for _, tc := range at(doc, "tests").([]any) {
			cases, _ := at(tc, "alert_rule_test").([]any)
			for _, c := range cases {
				name := str(c, "alertname")
				if exp, _ := at(c, "exp_alerts").([]any); len(exp) > 0 {
					fires[name]++
				} else {
					quiet[name]++
				}
			}
		}
	}
	if len(alerts) < 8 {
		t.Fatalf("only %d alerts found: %v", len(alerts), alerts)
	}
	for _, a := range alerts {
		if fires[a] == 0 || quiet[a] == 0 {
			t.Errorf("%s: %d cases where it fires, %d where it does not; want at least one of each", a, fires[a], quiet[a])
		}
	}
}

// servePod is what the monitoring and the probes depend on in serve.yaml.
type servePod struct {
	labels, annotations map[string]string
	ports               map[string]int // container port by name
	terminationGrace    time.Duration
	container           any
}

func loadServePod(t *testing.T) servePod {
	t.Helper()
	var dep map[string]any
	for _, d := range decodeAll(t, "kubernetes/serve.yaml") {
		if str(d, "kind") == "Deployment" {
			dep = d
		}
	}
	if dep == nil {
		t.Fatal("serve.yaml: no Deployment")
	}
	tmpl := at(dep, "spec", "template")
	p := servePod{labels: stringMap(at(tmpl, "metadata", "labels")), annotations: stringMap(at(tmpl, "metadata", "annotations")),
		ports: map[string]int{}, container: at(tmpl, "spec", "containers", 0)}
	secs, _ := at(tmpl, "spec", "terminationGracePeriodSeconds").(int)
	p.terminationGrace = time.Duration(secs) * time.Second
	ports, _ := at(p.container, "ports").([]any)
	for _, port := range ports {
		n, _ := at(port, "containerPort").(int)
		p.ports[str(port, "name")] = n
	}
	return p
}

func stringMap(v any) map[string]string {
	out := map[string]string{}
	m, _ := v.(map[string]any)
	for k, x := range m {
		s, _ := x.(string)
		out[k] = s
	}
	return out
}

// durationKey reads a serve.* duration from ferry.yaml, def when absent.
func durationKey(t *testing.T, cfg map[string]any, key string, def time.Duration) time.Duration {
	t.Helper()
	s := str(cfg, "serve", key)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("ferry.yaml: serve.%s: %v", key, err)
	}
	return d
}

// TestServeShutdownFitsPod: the pod is given longer to stop than serve
// needs (shutdown delay plus grace), serve is configured with a delay, and
// the probes use the admin port that serve listens on.
func TestServeShutdownFitsPod(t *testing.T) {
	pod := loadServePod(t)
	cfg := decodeOne(t, "kubernetes/ferry.yaml")
	delay := durationKey(t, cfg, "shutdown_delay", 0)
	grace := durationKey(t, cfg, "grace", 30*time.Second)
	if delay <= 0 {
		t.Errorf("ferry.yaml: serve.shutdown_delay %v: a rolling update needs a delay", delay)
	}
	if pod.terminationGrace <= delay+grace {
		t.Errorf("terminationGracePeriodSeconds %v, want more than shutdown_delay %v + grace %v", pod.terminationGrace, delay, grace)
	}
	_, port, err := net.SplitHostPort(str(cfg, "serve", "admin_listen"))
	if err != nil || port != strconv.Itoa(pod.ports["admin"]) {
		t.Errorf("ferry.yaml serve.admin_listen %q (%v) does not listen on the container port admin %d", str(cfg, "serve", "admin_listen"), err, pod.ports["admin"])
	}
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
		if got := str(pod.container, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path %q, want %s", probe, got, path)
		}
		if got := str(pod.container, probe, "httpGet", "port"); got != "admin" {
			t.Errorf("%s port %q, want admin", probe, got)
		}
	}
}

// TestScrapeMatchesAlerts: the shipped scrape job (prometheus.yaml) and the
// PodMonitor keep the serve pods' admin port under the job name that
// FerryServeDown selects, and the annotations agree with the ports.
func TestScrapeMatchesAlerts(t *testing.T) {
	pod := loadServePod(t)
	if pod.annotations["prometheus.io/scrape"] != "true" || pod.annotations["prometheus.io/path"] != "/metrics" ||
		pod.annotations["prometheus.io/port"] != strconv.Itoa(pod.ports["admin"]) {
		t.Errorf("serve.yaml scrape annotations %v do not match the admin port %d", pod.annotations, pod.ports["admin"])
	}
	job := ""
	for _, g := range at(decodeOne(t, "prometheus/ferry-alerts.yaml"), "groups").([]any) {
		for _, r := range at(g, "rules").([]any) {
			if str(r, "alert") == "FerryServeDown" {
				if m := regexp.MustCompile(`up\{job="([^"]+)"\}`).FindStringSubmatch(str(r, "expr")); m != nil {
					job = m[1]
				}
			}
		}
	}
	if job == "" {
		t.Fatal("FerryServeDown selects no job")
	}

	var sc any
	for _, c := range at(decodeOne(t, "prometheus/prometheus.yaml"), "scrape_configs").([]any) {
		if str(c, "job_name") == job {
			sc = c
		}
	}
	if sc == nil {
		t.Fatalf("prometheus.yaml has no scrape job %q", job)
	}
	// The Kubernetes meta labels of each of the pod's ports, as Prometheus's
	// pod discovery names them.
	kept := []string{}
	for name := range pod.ports {
		meta := map[string]string{"__meta_kubernetes_pod_container_port_name": name, "__meta_kubernetes_pod_phase": "Running"}
		for k, v := range pod.labels {
			meta["__meta_kubernetes_pod_label_"+sanitize(k)] = v
		}
		for k, v := range pod.annotations {
			meta["__meta_kubernetes_pod_annotation_"+sanitize(k)] = v
		}
		if keeps(t, at(sc, "relabel_configs"), meta) {
			kept = append(kept, name)
		}
	}
	if !slices.Equal(kept, []string{"admin"}) {
		t.Errorf("scrape job %q keeps the ports %v of the serve pod, want [admin]", job, kept)
	}

	pm := decodeOne(t, "prometheus/podmonitor.yaml")
	if got := pod.labels[str(pm, "spec", "jobLabel")]; got != job {
		t.Errorf("podmonitor.yaml: jobLabel %q gives job %q, want %q", str(pm, "spec", "jobLabel"), got, job)
	}
	for k, v := range stringMap(at(pm, "spec", "selector", "matchLabels")) {
		if pod.labels[k] != v {
			t.Errorf("podmonitor.yaml selects %s=%s, the serve pod has %q", k, v, pod.labels[k])
		}
	}
	if got := str(pm, "spec", "podMetricsEndpoints", 0, "port"); got != "admin" {
		t.Errorf("podmonitor.yaml scrapes port %q, want admin", got)
	}
}

// sanitize turns a Kubernetes label or annotation name into the suffix of
// its Prometheus meta label.
func sanitize(s string) string {
	return regexp.MustCompile(`[^a-zA-Z0-9_]`).ReplaceAllString(s, "_")
}

// keeps applies the keep and drop rules of relabel_configs to meta.
func keeps(t *testing.T, rules any, meta map[string]string) bool {
	t.Helper()
	list, _ := rules.([]any)
	for _, r := range list {
		action := str(r, "action")
		if action != "keep" && action != "drop" {
			continue
		}
		var vals []string
		src, _ := at(r, "source_labels").([]any)
		for _, s := range src {
			vals = append(vals, meta[s.(string)])
		}
		re := str(r, "regex")
		if re == "" {
			re = "(.*)"
		}
		match := regexp.MustCompile("^(?:" + re + ")$").MatchString(strings.Join(vals, ";"))
		if match != (action == "keep") {
			return false
		}
	}
	return true
}

// TestRulesFileWritable: the config file is a read-only ConfigMap in the
// serve and finalize pods, so ferry.yaml names a rules_file (finalize
// --remove-rules writes it, serve reloads from it) that lies on the same
// persistent volume, mounted read-write, in both.
func TestRulesFileWritable(t *testing.T) {
	rulesFile := str(decodeOne(t, "kubernetes/ferry.yaml"), "rules_file")
	if !filepath.IsAbs(rulesFile) {
		t.Fatalf("ferry.yaml: rules_file %q, want an absolute path on the state volume", rulesFile)
	}
	claims := map[string]string{}
	for file, kind := range map[string]string{"kubernetes/serve.yaml": "Deployment", "kubernetes/finalize-job.yaml": "Job"} {
		var pod any
		for _, d := range decodeAll(t, file) {
			if str(d, "kind") == kind {
				pod = at(d, "spec", "template", "spec")
			}
		}
		c := at(pod, "containers", 0)
		config := ""
		args, _ := at(c, "args").([]any)
		for _, a := range args {
			if s, _ := a.(string); strings.HasPrefix(s, "--config=") {
				config = strings.TrimPrefix(s, "--config=")
			}
		}
		cm, cv := mountOf(pod, c, config)
		if config == "" || at(cm, "readOnly") != true || at(cv, "configMap") == nil {
			t.Errorf("%s: --config %q is not on a read-only ConfigMap mount (%v, %v)", file, config, cm, cv)
		}
		rm, rv := mountOf(pod, c, rulesFile)
		if rm == nil || at(rm, "readOnly") == true {
			t.Errorf("%s: rules_file %s is not on a read-write mount (%v)", file, rulesFile, rm)
		}
		claims[file] = str(rv, "persistentVolumeClaim", "claimName")
	}
	if claims["kubernetes/serve.yaml"] == "" || claims["kubernetes/serve.yaml"] != claims["kubernetes/finalize-job.yaml"] {
		t.Errorf("rules_file %s is not on one persistent volume claim shared by serve and finalize: %v", rulesFile, claims)
	}
}

// mountOf returns the volume mount of container c whose path holds file (the
// deepest) and the pod's volume it mounts.
func mountOf(pod, c any, file string) (mount, volume any) {
	mounts, _ := at(c, "volumeMounts").([]any)
	for _, m := range mounts {
		p := str(m, "mountPath")
		if file != "" && strings.HasPrefix(file, strings.TrimSuffix(p, "/")+"/") && (mount == nil || len(p) > len(str(mount, "mountPath"))) {
			mount = m
		}
	}
	vols, _ := at(pod, "volumes").([]any)
	for _, v := range vols {
		if mount != nil && str(v, "name") == str(mount, "name") {
			volume = v
		}
	}
	return mount, volume
}

// TestImageStateDirWritable: the Dockerfile gives the state directory to
// the user the image runs as (distroless has no shell, and WORKDIR alone
// would create it owned by root).
func TestImageStateDirWritable(t *testing.T) {
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	user := regexp.MustCompile(`(?m)^USER (\S+)`).FindStringSubmatch(text)
	state := regexp.MustCompile(`(?m)^ENV FERRY_STATE_DIR=(\S+)`).FindStringSubmatch(text)
	if user == nil || state == nil {
		t.Fatalf("Dockerfile: USER %v, ENV FERRY_STATE_DIR %v", user, state)
	}
	// COPY --from=<stage> --chown=<user> <src>/ <parent of the state dir>/
	// creates the state dir (a directory of <src>) with that owner.
	copyRe := regexp.MustCompile(`(?m)^COPY --from=(\S+) --chown=` + regexp.QuoteMeta(user[1]) + ` (\S+)/ (\S+)/$`)
	m := copyRe.FindStringSubmatch(text)
	if m == nil || filepath.Clean(m[3]) != filepath.Dir(state[1]) {
		t.Fatalf("Dockerfile: no COPY --from --chown=%s that creates %s", user[1], state[1])
	}
	stage := regexp.MustCompile(`(?m)^FROM \S+ AS ` + regexp.QuoteMeta(m[1]) + `\nWORKDIR (\S+)$`).FindStringSubmatch(text)
	if stage == nil || stage[1] != m[2]+"/"+filepath.Base(state[1]) {
		t.Errorf("Dockerfile: stage %s does not create %s/%s", m[1], m[2], filepath.Base(state[1]))
	}
}

// TestReleaseFilesParse: .goreleaser.yaml parses, builds the image from the
// Dockerfile for linux platforms, and the binary path the Dockerfile copies
// is the one dockers_v2 puts in the context.
func TestReleaseFilesParse(t *testing.T) {
	g := decodeOne(t, "../.goreleaser.yaml")
	if v, _ := at(g, "version").(int); v != 2 {
		t.Errorf(".goreleaser.yaml: version %v, want 2", at(g, "version"))
	}
	d := at(g, "dockers_v2", 0)
	if str(d, "dockerfile") != "Dockerfile" {
		t.Errorf("dockers_v2 dockerfile %q", str(d, "dockerfile"))
	}
	plats, _ := at(d, "platforms").([]any)
	if len(plats) == 0 {
		t.Error("dockers_v2: no platforms")
	}
	for _, p := range plats {
		if !strings.HasPrefix(p.(string), "linux/") {
			t.Errorf("dockers_v2 platform %v", p)
		}
	}
	binary := str(g, "builds", 0, "binary")
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "COPY $TARGETPLATFORM/"+binary+" ") {
		t.Errorf("Dockerfile does not copy $TARGETPLATFORM/%s", binary)
	}
}
