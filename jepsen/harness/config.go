// Package harness runs one fault-injection test end to end: it starts a
// cluster of real kqd processes behind link proxies, sets up keys, drives
// the recording clients while the nemesis injects faults, heals, reads the
// final state, runs every checker and writes the report. cmd/kqjepsen and
// the scenario tests are thin layers over Run.
package harness

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyquorum/keyquorum/jepsen/checker"
	"github.com/keyquorum/keyquorum/jepsen/nemesis"
)

// Config is one run. Start from DefaultConfig.
type Config struct {
	Nodes       int           `json:"nodes"`
	Duration    time.Duration `json:"duration"` // of traffic under faults, after setup
	Nemesis     string        `json:"nemesis"`  // none, partition, clock, kill, pause, all, or a list: kill,pause
	Workload    string        `json:"workload"` // sign, lifecycle, ceremony or authz
	Clients     int           `json:"clients"`
	Seed        uint64        `json:"seed"`
	Backend     string        `json:"backend"` // simulator or swtpm
	Bugs        string        `json:"bugs,omitempty"`
	ECDSA       bool          `json:"ecdsa"` // needs FixturesDir
	BinDir      string        `json:"bin_dir"`
	FixturesDir string        `json:"fixtures_dir,omitempty"`
	// Out receives the report; empty writes none.
	Out string `json:"out,omitempty"`
	// CheckTimeout bounds porcupine; past it the verdict is inconclusive.
	CheckTimeout time.Duration `json:"check_timeout"`
	// MaxClockOffset is the cluster's clock.max_offset (its default,
	// 500 ms, in every cluster the harness starts), and ClockSlack what
	// the harness adds for its own measurement: the expiry check holds
	// replicated time within their sum of real time.
	MaxClockOffset time.Duration `json:"max_clock_offset"`
	ClockSlack     time.Duration `json:"clock_slack"`
	// MaxRecovery, when positive, makes a run in which some algorithm's
	// first successful sign after a healed fault came later than this an
	// availability violation (kept apart from the safety verdict).
	MaxRecovery time.Duration `json:"max_recovery,omitempty"`
	// Schedule tunes the nemesis; zero values take nemesis defaults.
	Quiet, Hold time.Duration `json:"-"`
	// Progress hears one line per event; nil is silent.
	Progress func(string) `json:"-"`
	// Phase hears each phase start: "setup", "traffic" (expected to last
	// Duration), "heal" and "check", for a progress display; nil is silent.
	Phase func(name string, expected time.Duration) `json:"-"`
	_     struct{}
}

// Workloads are the --workload values.
var Workloads = []string{"sign", "lifecycle", "ceremony", "authz"}

// DefaultConfig is a 3-node, 60-second partition run with 8 clients on the
// simulator TPM.
func DefaultConfig(binDir string) Config {
	b := checker.DefaultExpiryBound()
	return Config{Nodes: 3, Duration: 60 * time.Second, Nemesis: "partition", Workload: "sign", Clients: 8,
		Seed: 1, Backend: "simulator", BinDir: binDir, CheckTimeout: 2 * time.Minute,
		MaxClockOffset: b.MaxClockOffset, ClockSlack: b.Slack}
}

// Validate checks the fields that can be checked without starting anything.
func (c Config) Validate() error {
	var errs []error
	if c.Nodes != 3 && c.Nodes != 5 {
		errs = append(errs, fmt.Errorf("harness: --nodes %d: use 3 or 5", c.Nodes))
	}
	if c.Duration <= 0 || c.Clients < 1 || c.CheckTimeout <= 0 {
		errs = append(errs, errors.New("harness: duration, clients and check timeout must be positive"))
	}
	if c.MaxRecovery < 0 {
		errs = append(errs, errors.New("harness: the max recovery cannot be negative (0 leaves availability unjudged)"))
	}
	if c.MaxClockOffset < 0 || c.ClockSlack < 0 {
		errs = append(errs, errors.New("harness: the max clock offset and the clock slack cannot be negative"))
	}
	if _, err := nemesis.ByName(c.Nemesis); err != nil {
		errs = append(errs, err)
	}
	if !slices.Contains(Workloads, c.Workload) {
		errs = append(errs, fmt.Errorf("harness: --workload %q: use one of %s", c.Workload, strings.Join(Workloads, ", ")))
	}
	if c.Backend != "simulator" && c.Backend != "swtpm" {
		errs = append(errs, fmt.Errorf("harness: --backend %q: use simulator or swtpm", c.Backend))
	}
	if c.ECDSA && c.FixturesDir == "" {
		errs = append(errs, errors.New("harness: ECDSA keys need pre-params fixtures (--fixtures)"))
	}
	if c.BinDir == "" {
		errs = append(errs, errors.New("harness: no directory with kqd and kq (--bin)"))
	}
	return errors.Join(errs...)
}
