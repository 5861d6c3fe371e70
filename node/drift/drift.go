// Package drift is a member's side of config drift, and only that: the
// fingerprint of the security-relevant settings it runs with (Local), its
// report to the replicated state whenever that holds other ones for it
// (Report), and the keyquorum_config_drift gauge read from the members'
// reports (Collector). Which member differs from the others is decided
// on every replica by consensus/fsm/settings; every member, `kq status`,
// the metrics and the audit trail see it there.
package drift

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/settings"
	"github.com/keyquorum/keyquorum/node/config"
)

// checkEvery is how often a member compares its settings with what the
// replicated state holds for it.
const checkEvery = 5 * time.Second

// Local fingerprints the security-relevant settings of a member of c. It
// holds no secret: the CA certificate appears as a hash, and no key does.
func Local(c *config.Cluster) map[string]string {
	pcrs := make([]string, len(c.TPM.PCRs))
	for i, p := range c.TPM.PCRs {
		pcrs[i] = fmt.Sprint(p)
	}
	s := map[string]string{
		"mode":                c.Mode,
		"tpm.backend":         string(c.TPM.Backend),
		"tpm.pcrs":            strings.Join(pcrs, ","),
		"preparams.source":    string(c.Preparams.Source),
		"handles.max_ttl":     c.Handles.MaxTTL.String(),
		"lifecycle.dedup_age": c.Lifecycle.DedupAge.String(),
		"clock.max_offset":    c.Clock.MaxOffset.String(),
		"protocol.max":        fmt.Sprint(fsm.MaxProtocol),
		"go.version":          runtime.Version(),
		"tls.ca_sha256":       fileHash(filepath.Join(c.CertsDir(), "ca.pem")),
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		s["kqd.version"] = buildVersion(bi)
		for _, d := range bi.Deps {
			if d.Path == "github.com/bnb-chain/tss-lib/v2" {
				s["tsslib.version"] = d.Version
			}
		}
	}
	return s
}

// buildVersion names the binary: the module version, or the VCS revision
// it was built from (with "+dirty" for a modified tree).
func buildVersion(bi *debug.BuildInfo) string {
	v, dirty := bi.Main.Version, false
	for _, st := range bi.Settings {
		switch st.Key {
		case "vcs.revision":
			v = st.Value[:min(12, len(st.Value))]
		case "vcs.modified":
			dirty = st.Value == "true"
		}
	}
	if dirty {
		v += "+dirty"
	}
	return v
}

// fileHash is the first 16 hex digits of a file's SHA-256, or "unreadable".
func fileHash(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unreadable"
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// State is what Report reads of the replicated state.
type State interface {
	Protocol() uint32
	Settings(node string) map[string]string
}

// Report reports mine, member id's settings, whenever the replicated
// state holds other ones for it (at start, after a change, or once the
// cluster runs a protocol that has the entry), until ctx ends. report
// appends the entry, retrying until it is in or ctx ends.
func Report(ctx context.Context, id string, mine map[string]string, st State, report func(context.Context, fsm.Command)) {
	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
	for {
		if st.Protocol() >= fsm.ProtocolV2 && !maps.Equal(st.Settings(id), mine) {
			report(ctx, &fsm.NodeSettings{Node: id, Settings: mine})
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Collector exposes keyquorum_config_drift{node,setting}: 1 for each
// member's reported setting that differs from what most members report.
// Labels are member ids and setting names from Local: a bounded set.
type Collector struct {
	drift func() map[string][]settings.Drift
	desc  *prometheus.Desc
}

// NewCollector reads the drift from drift (the FSM's SettingsDrift) at
// scrape time.
func NewCollector(drift func() map[string][]settings.Drift) *Collector {
	return &Collector{drift: drift, desc: prometheus.NewDesc("keyquorum_config_drift",
		"1 for each member setting that differs from the value most members report (see kq status).", []string{"node", "setting"}, nil)}
}

// Describe implements prometheus.Collector.
func (d *Collector) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }

// Collect implements prometheus.Collector.
func (d *Collector) Collect(ch chan<- prometheus.Metric) {
	for node, drifts := range d.drift() {
		for _, dr := range drifts {
			ch <- prometheus.MustNewConstMetric(d.desc, prometheus.GaugeValue, 1, node, dr.Setting)
		}
	}
}
