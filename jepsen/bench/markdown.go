package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Row is one line of a results table.
type Row struct {
	Name  string
	Stats Stats
	// Note is free text for the last column, e.g. a ratio to a reference row.
	Note string
	_    struct{}
}

// WriteTable renders rows as a markdown table with n, p50, p90, max and
// mean in milliseconds, plus the note column.
func WriteTable(w io.Writer, rows []Row) error {
	var b strings.Builder
	b.WriteString("| operation | n | p50 | p90 | max | mean | note |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s |\n", r.Name, r.Stats.N,
			Millis(r.Stats.P50), Millis(r.Stats.P90), Millis(r.Stats.Max), Millis(r.Stats.Mean), r.Note)
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("bench: write table: %w", err)
	}
	return nil
}

// Millis formats d in milliseconds with precision suited to its size:
// "0.42 ms", "28.5 ms", "293 ms", "8412 ms".
func Millis(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.0f ms", ms)
	}
}

// Env describes the machine and toolchain a run used.
type Env struct {
	Date      time.Time
	NumCPU    int
	CPU       string // model name, "" if unknown
	GoVersion string
	OS, Arch  string
	Load      string // 1/5/15-minute load averages, "" if unknown
	Command   string
	_         struct{}
}

// CaptureEnv returns the current environment; command is the command line
// that reproduces the run.
func CaptureEnv(command string) Env {
	return Env{
		Date: time.Now().UTC(), NumCPU: runtime.NumCPU(), CPU: cpuModel(),
		GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, Load: loadAvg(), Command: command,
	}
}

// WriteEnv renders e as a markdown bullet list.
func WriteEnv(w io.Writer, e Env) error {
	var b strings.Builder
	fmt.Fprintf(&b, "- date: %s\n", e.Date.Format("2006-01-02 15:04 MST"))
	cpu := fmt.Sprintf("%d", e.NumCPU)
	if e.CPU != "" {
		cpu += " × " + e.CPU
	}
	fmt.Fprintf(&b, "- CPUs (nproc): %s\n", cpu)
	fmt.Fprintf(&b, "- go: %s %s/%s\n", e.GoVersion, e.OS, e.Arch)
	if e.Load != "" {
		fmt.Fprintf(&b, "- load average at start (1/5/15 min): %s\n", e.Load)
	}
	fmt.Fprintf(&b, "- command: `%s`\n", e.Command)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("bench: write env: %w", err)
	}
	return nil
}

// cpuModel reads the first "model name" of /proc/cpuinfo; elsewhere it
// returns "".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// loadAvg reads the three load averages from /proc/loadavg; elsewhere it
// returns "".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
