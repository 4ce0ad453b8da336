package deploy

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestPlanJob: plan-job.yaml is an Indexed Job whose pod i runs partition i
// of the plan: completions, parallelism and per-index retries set, a bad
// configuration (exit 2) fails the Job at once, every $(VAR) of the
// arguments is defined, and every flag is one ferry scan has (its generated
// reference, docs/cli/ferry_scan.md).
func TestPlanJob(t *testing.T) {
	job := decodeOne(t, "kubernetes/plan-job.yaml")
	spec := at(job, "spec")
	if str(job, "kind") != "Job" || str(spec, "completionMode") != "Indexed" {
		t.Fatalf("not an Indexed Job: %v %v", str(job, "kind"), str(spec, "completionMode"))
	}
	completions, _ := at(spec, "completions").(int)
	parallelism, _ := at(spec, "parallelism").(int)
	perIndex, _ := at(spec, "backoffLimitPerIndex").(int)
	maxFailed, _ := at(spec, "maxFailedIndexes").(int)
	if completions < 1 || parallelism < 1 || parallelism > completions || perIndex < 1 || maxFailed < 1 || maxFailed > completions {
		t.Errorf("completions %d, parallelism %d, backoffLimitPerIndex %d, maxFailedIndexes %d", completions, parallelism, perIndex, maxFailed)
	}
	pod := at(spec, "template", "spec")
	if str(pod, "restartPolicy") != "Never" { // backoffLimitPerIndex and podFailurePolicy need it
		t.Errorf("restartPolicy %q, want Never", str(pod, "restartPolicy"))
	}
	c := at(pod, "containers", 0)
	rule := at(spec, "podFailurePolicy", "rules", 0)
	if str(rule, "action") != "FailJob" || str(rule, "onExitCodes", "containerName") != str(c, "name") ||
		!slices.Contains(at(rule, "onExitCodes", "values").([]any), any(2)) {
		t.Errorf("podFailurePolicy does not fail the Job on exit 2 of %q: %v", str(c, "name"), rule)
	}

	var args []string
	for _, a := range at(c, "args").([]any) {
		args = append(args, a.(string))
	}
	if len(args) == 0 || args[0] != "scan" || !slices.Contains(args, "--partition=$(JOB_COMPLETION_INDEX)") ||
		!slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--plan=") }) {
		t.Fatalf("args %q: want scan --plan=... --partition=$(JOB_COMPLETION_INDEX)", args)
	}
	env := map[string]bool{"JOB_COMPLETION_INDEX": true} // set by the Job controller
	for _, e := range at(c, "env").([]any) {
		env[str(e, "name")] = true
	}
	ref := regexp.MustCompile(`\$\(([A-Z_]+)\)`)
	reference, err := os.ReadFile("../docs/cli/ferry_scan.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range args[1:] {
		for _, m := range ref.FindAllStringSubmatch(a, -1) {
			if !env[m[1]] {
				t.Errorf("argument %q uses $(%s), which the container does not define", a, m[1])
			}
		}
		flag, _, _ := strings.Cut(a, "=")
		if !strings.Contains(string(reference), "      "+flag+" ") {
			t.Errorf("argument %q: ferry scan has no flag %s (docs/cli/ferry_scan.md)", a, flag)
		}
	}
}
