package serve

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// sample is one line of the text exposition format.
type sample struct {
	name   string
	labels map[string]string
	value  string
}

var (
	sampleRe = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
	labelRe  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	// selectorRe finds ferry's metrics, with their label matchers, in PromQL.
	selectorRe = regexp.MustCompile(`\b(ferry_[a-z0-9_]+)(\{[^}]*\})?`)
)

func parseExposition(t *testing.T, text string) []sample {
	t.Helper()
	var out []sample
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleRe.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not an exposition line: %q", line)
		}
		s := sample{name: m[1], labels: map[string]string{}, value: m[3]}
		for _, l := range labelRe.FindAllStringSubmatch(m[2], -1) {
			s.labels[l[1]] = l[3]
		}
		out = append(out, s)
	}
	return out
}

// matches reports whether s satisfies the PromQL label matchers of sel
// ("{a="x", b=~"5.."}").
func matches(s sample, sel string) bool {
	for _, l := range labelRe.FindAllStringSubmatch(sel, -1) {
		v := s.labels[l[1]]
		switch l[2] {
		case "=":
			if v != l[3] {
				return false
			}
		case "!=":
			if v == l[3] {
				return false
			}
		case "=~", "!~":
			if regexp.MustCompile("^(?:"+l[3]+")$").MatchString(v) != (l[2] == "=~") {
				return false
			}
		}
	}
	return true
}

// TestAlertMetricsExported scrapes a running Server that has answered no
// request yet and checks that every series the alerts in
// deploy/prometheus/ferry-alerts.yaml select (metric name and label
// matchers) is already there, at 0: serve pre-sets every known label value,
// so an alert sees the first failure or refused reload.
func TestAlertMetricsExported(t *testing.T) {
	leakCheck(t)
	re := startRun(t, 5*time.Second)
	samples := parseExposition(t, doURL(t, "GET", re.adm+"/metrics").body)

	data, err := os.ReadFile("../deploy/prometheus/ferry-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Alert string
				Expr  string
			}
		}
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			for _, sel := range selectorRe.FindAllStringSubmatch(r.Expr, -1) {
				checked++
				found := false
				for _, s := range samples {
					if s.name == sel[1] && matches(s, sel[2]) {
						found = true
						break
					}
				}
				if !found {
					t.Errorf("%s: %s%s is not exported before the first request", r.Alert, sel[1], sel[2])
				}
			}
		}
	}
	if checked < 8 {
		t.Fatalf("only %d metric selectors found in the alerts", checked)
	}
}

// TestBuildInfo: ferry_build_info is 1 with the build given in Options (and
// "unknown" for what is not known).
func TestBuildInfo(t *testing.T) {
	b, _ := fileTarget(t)
	for _, c := range []struct {
		build           BuildInfo
		version, commit string
	}{
		{BuildInfo{Version: "v1.2.3", Commit: "abc123"}, "v1.2.3", "abc123"},
		{BuildInfo{}, "unknown", "unknown"},
	} {
		srv, err := New(Options{Target: b, Build: c.build})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		var got []sample
		for _, s := range parseExposition(t, rec.Body.String()) {
			if s.name == "ferry_build_info" {
				got = append(got, s)
			}
		}
		want := map[string]string{"version": c.version, "commit": c.commit, "go_version": runtime.Version()}
		if len(got) != 1 || got[0].value != "1" || len(got[0].labels) != 3 {
			t.Fatalf("ferry_build_info: %+v, want one sample %v = 1", got, want)
		}
		for k, v := range want {
			if got[0].labels[k] != v {
				t.Errorf("ferry_build_info %s=%q, want %q", k, got[0].labels[k], v)
			}
		}
	}
}

// TestPresetCoversMirrorReasons: every Reason and Outcome constant that
// mirror declares is pre-set (a new reason would otherwise start at 1 and
// hide its first failure from FerryMirrorFailures).
func TestPresetCoversMirrorReasons(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../mirror/errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string][]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); ok && (id.Name == "Reason" || id.Name == "Outcome") {
				for _, v := range vs.Values {
					if lit, ok := v.(*ast.BasicLit); ok {
						declared[id.Name] = append(declared[id.Name], strings.Trim(lit.Value, `"`))
					}
				}
			}
		}
	}
	if len(declared["Reason"]) < 10 || len(declared["Outcome"]) < 5 {
		t.Fatalf("found %v in mirror/errors.go: did the constants move?", declared)
	}
	have := map[string]bool{}
	for _, r := range fillFailReasons {
		have["Reason "+string(r)] = true
	}
	for _, o := range fillResults {
		have["Outcome "+string(o)] = true
	}
	for kind, vals := range declared {
		for _, v := range vals {
			if !have[kind+" "+v] {
				t.Errorf("mirror %s %q is not pre-set in serve/metrics.go", kind, v)
			}
		}
	}
}
