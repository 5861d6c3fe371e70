// Package report writes what a harness run leaves behind: results.json,
// porcupine's history.html, the node logs, and a short summary for the
// terminal.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/keyquorum/keyquorum/jepsen/availability"
	"github.com/keyquorum/keyquorum/jepsen/checker"
	"github.com/keyquorum/keyquorum/jepsen/model"
	"github.com/keyquorum/keyquorum/jepsen/nemesis"
)

// Results is everything results.json holds.
type Results struct {
	Command  string                    `json:"command"`
	Config   any                       `json:"config"`
	Seed     uint64                    `json:"seed"`
	Started  time.Time                 `json:"started"`
	Duration string                    `json:"duration"`
	Verdict  checker.Verdict           `json:"verdict"`
	Checks   []checker.Check           `json:"checks"`
	Ops      int                       `json:"ops"`
	Clients  int                       `json:"client_ids"`
	Counts   map[string]map[string]int `json:"counts"` // op kind -> outcome -> n
	Faults   []nemesis.Fault           `json:"faults"`
	Latency  map[string]Percentiles    `json:"latency_ms"` // op kind, definite outcomes only
	// Unknown counts unknown outcomes by operation and error text (cut
	// short), to tell partitions from overload.
	Unknown map[string]int `json:"unknown_causes"`
	// Expiry counts the signs with short-lived handles the expiry check
	// judged, by where they fell against their handle's expiry.
	Expiry *checker.ExpiryStats `json:"expiry,omitempty"`
	// Audit is each node's audit chain as the audit check read it.
	Audit []checker.AuditNode `json:"audit,omitempty"`
	// Availability is how long signing stopped and came back, with its own
	// verdict, apart from Verdict (safety).
	Availability *availability.Report `json:"availability,omitempty"`
	Errors       []string             `json:"errors,omitempty"`
}

// Percentiles of one operation kind's latency in milliseconds,
// nearest-rank.
type Percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Summarize fills the counts and latencies from a history.
func (r *Results) Summarize(history []porcupine.Operation) {
	r.Ops = len(history)
	r.Counts = map[string]map[string]int{}
	lat := map[string][]time.Duration{}
	for _, op := range history {
		in, out := op.Input.(model.Input), op.Output.(model.Output)
		kind := string(in.Kind)
		if r.Counts[kind] == nil {
			r.Counts[kind] = map[string]int{}
		}
		r.Counts[kind][string(out.Status)]++
		if out.Status == model.Unknown {
			if r.Unknown == nil {
				r.Unknown = map[string]int{}
			}
			cause := out.Error
			if i := strings.IndexAny(cause, "\"0123456789"); i > 0 {
				cause = cause[:i] // drop names and numbers so causes group
			}
			r.Unknown[kind+": "+cause]++
		}
		if out.Status != model.Unknown {
			lat[kind] = append(lat[kind], time.Duration(op.Return-op.Call))
		}
	}
	r.Latency = map[string]Percentiles{}
	for kind, ds := range lat {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		ms := func(q float64) float64 {
			i := int(q*float64(len(ds))+0.999999) - 1
			return float64(ds[max(0, min(i, len(ds)-1))].Microseconds()) / 1000
		}
		r.Latency[kind] = Percentiles{N: len(ds), P50: ms(0.5), P90: ms(0.9), P99: ms(0.99), Max: ms(1)}
	}
}

// Write creates dir and writes results.json, history.html (when info is
// not nil) and a copy of every file in logsDir under dir/logs.
func Write(dir string, r Results, info *porcupine.LinearizationInfo, logsDir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("report: results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), data, 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if info != nil {
		var ann []porcupine.Annotation
		for _, f := range r.Faults {
			ann = append(ann, porcupine.Annotation{Tag: "nemesis", Start: f.Start, End: f.End,
				Description: f.Name, Details: f.Target, BackgroundColor: "#f6d5d5"})
		}
		ann = append(ann, availabilityAnnotations(r.Availability)...)
		info.AddAnnotations(ann)
		if err := porcupine.VisualizePath(modelForReport(), *info, filepath.Join(dir, "history.html")); err != nil {
			return fmt.Errorf("report: history.html: %w", err)
		}
	}
	if logsDir != "" {
		if err := copyDir(logsDir, filepath.Join(dir, "logs")); err != nil {
			return fmt.Errorf("report: logs: %w", err)
		}
	}
	return nil
}

func modelForReport() porcupine.Model { return model.Keys() }

func copyDir(from, to string) error {
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if err := copyFile(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// Summary is the readable end of a run for the terminal.
func Summary(r Results) string {
	var b strings.Builder
	avail := ""
	if a := r.Availability; a != nil && a.Verdict != availability.Unjudged {
		avail = ", availability " + strings.ToUpper(string(a.Verdict))
	}
	fmt.Fprintf(&b, "verdict: %s%s (seed %d, %s, %d operations, %d client ids, %d faults)\n",
		strings.ToUpper(string(r.Verdict)), avail, r.Seed, r.Duration, r.Ops, r.Clients, len(r.Faults))
	kinds := slices.Sorted(maps.Keys(r.Counts))
	for _, k := range kinds {
		var parts []string
		outs := slices.Sorted(maps.Keys(r.Counts[k]))
		for _, o := range outs {
			parts = append(parts, fmt.Sprintf("%s=%d", o, r.Counts[k][o]))
		}
		p := r.Latency[k]
		fmt.Fprintf(&b, "  %-8s %s; p50 %.0fms p99 %.0fms\n", k, strings.Join(parts, " "), p.P50, p.P99)
	}
	faults := map[string]int{}
	for _, f := range r.Faults {
		faults[f.Name]++
	}
	if len(faults) > 0 {
		fmt.Fprintf(&b, "  faults: %v\n", faults)
	}
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "  %s\n", c)
	}
	if len(r.Audit) > 0 {
		parts := make([]string, 0, len(r.Audit))
		for _, n := range r.Audit {
			parts = append(parts, auditLine(n))
		}
		fmt.Fprintf(&b, "  audit chains: %s\n", strings.Join(parts, ", "))
	}
	if r.Availability != nil {
		b.WriteString(availabilityLines(*r.Availability))
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "  error: %s\n", e)
	}
	return b.String()
}

// historyOp is one operation in history.json.
type historyOp struct {
	Client int          `json:"client"`
	Call   int64        `json:"call_ns"`
	Return int64        `json:"return_ns"` // math.MaxInt64: unknown outcome
	Input  model.Input  `json:"input"`
	Output model.Output `json:"output"`
	Meta   any          `json:"meta,omitempty"`
}

// WriteHistory saves the raw history as JSON, one object per operation, so
// that a run can be re-checked or inspected without the visualisation.
func WriteHistory(path string, history []porcupine.Operation) error {
	ops := make([]historyOp, len(history))
	for i, op := range history {
		ops[i] = historyOp{Client: op.ClientId, Call: op.Call, Return: op.Return,
			Input: op.Input.(model.Input), Output: op.Output.(model.Output), Meta: op.Metadata}
	}
	data, err := json.MarshalIndent(ops, "", " ")
	if err != nil {
		return fmt.Errorf("report: history: %w", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// auditLine is one node's chain in a few words: "n1 1-412 head 412, 6
// checkpoints (signatures verified)".
func auditLine(n checker.AuditNode) string {
	if n.Error != "" {
		return n.Node + " unread"
	}
	s := fmt.Sprintf("%s %d-%d head %d", n.Node, n.ExportFirst, n.ExportLast, n.HeadSeq)
	if len(n.Gaps) > 0 {
		s += " gaps " + strings.Join(n.Gaps, " ")
	}
	if n.Verified != n.Records {
		s += fmt.Sprintf(" (%d of %d verified)", n.Verified, n.Records)
	}
	sigs := "unchecked"
	if n.SignaturesChecked {
		sigs = "verified"
	}
	return fmt.Sprintf("%s, %d checkpoints (signatures %s)", s, n.Checkpoints, sigs)
}
