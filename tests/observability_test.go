package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	// seriesName matches our series and recording rules in a PromQL expression.
	seriesName = regexp.MustCompile(`sentistream[a-z0-9_:]+`)
	// registeredName matches a series name as the code registers it.
	registeredName = regexp.MustCompile(`(?:Name:\s*|NewDesc\()"(sentistream_[a-z0-9_]+)"`)
	// recordName matches a recording rule.
	recordName = regexp.MustCompile(`(?m)^\s*- record: (\S+)`)
)

// knownSeries returns every series name the code registers (with a histogram's suffixes) and
// every recording rule of infra/observability/rules.yml.
func knownSeries(t *testing.T, root string) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range registeredName.FindAllStringSubmatch(string(src), -1) {
			for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
				known[m[1]+suffix] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile(filepath.Join(root, "infra/observability/rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range recordName.FindAllStringSubmatch(string(rules), -1) {
		known[m[1]] = true
	}
	return known
}

// TestObservabilityNamesExist checks that every series the shipped rules and Grafana dashboard
// query is one the code exports or a rule records: a renamed metric would otherwise leave an
// alert that never fires and an empty panel. (promtool checks the rules' syntax and tests the
// alerts in `make rules`.)
func TestObservabilityNamesExist(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	known := knownSeries(t, root)
	for _, name := range []string{"sentistream_events_total", "sentistream_ready", "sentistream_kafkasource_lag_records"} {
		if !known[name] {
			t.Fatalf("the scan of the code misses %s: fix knownSeries", name)
		}
	}

	rules, err := os.ReadFile(filepath.Join(root, "infra/observability/rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range seriesName.FindAllString(string(rules), -1) {
		if !known[name] && !strings.HasPrefix(name, "sentistream-") {
			t.Errorf("rules.yml queries %s, which nothing exports or records", name)
		}
	}

	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	data, err := os.ReadFile(filepath.Join(root, "infra/observability/grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if len(dash.Panels) == 0 {
		t.Fatal("grafana-dashboard.json has no panels")
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			names := seriesName.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q queries no sentistream series: %s", p.Title, tg.Expr)
			}
			for _, name := range names {
				if !known[name] {
					t.Errorf("panel %q queries %s, which nothing exports or records", p.Title, name)
				}
			}
		}
	}
}
