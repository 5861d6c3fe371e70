package node

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestAlertRulesNameExportedMetrics keeps docs/alerts.yaml true to the
// metrics kqd exports: a rule over a renamed or never-exported metric would
// stay silent forever, which promtool's own tests (synthetic series) cannot
// notice.
func TestAlertRulesNameExportedMetrics(t *testing.T) {
	rules, err := os.ReadFile(filepath.Join("..", "docs", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	metric := regexp.MustCompile(`"(keyquorum_[a-z0-9_]+)"`)
	exported := map[string]bool{}
	// The collectors of node and of every package under it (metrics,
	// clocksync, ...), wherever a move between them puts a metric.
	var sources []string
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".go") {
			sources = append(sources, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range sources {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metric.FindAllStringSubmatch(string(src), -1) {
			exported[m[1]] = true
		}
	}
	if len(exported) < 20 {
		t.Fatalf("found only %d metric names in node's sources: %v", len(exported), exported)
	}
	var used []string
	// Recording rules (keyquorum:...) have a colon and do not match.
	for _, m := range regexp.MustCompile(`\bkeyquorum_[a-z0-9_]+`).FindAllString(string(rules), -1) {
		if !slices.Contains(used, m) {
			used = append(used, m)
		}
	}
	if len(used) < 10 {
		t.Fatalf("alerts.yaml names only %d metrics: %v", len(used), used)
	}
	for _, name := range used {
		base := name
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && exported[b] {
				base = b
			}
		}
		if !exported[base] {
			t.Errorf("docs/alerts.yaml uses %s, which kqd does not export", name)
		}
	}
}
