package node

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
	"github.com/keyquorum/keyquorum/node/config"
)

// Config drift: what this node runs with, reported through the log so that
// every member, `kq status`, the metrics and the audit trail see where one
// member differs from the others (consensus/fsm/settings.go).

// settingsCheckEvery is how often a node compares its settings with what
// the replicated state holds for it.
const settingsCheckEvery = 5 * time.Second

// localSettings fingerprints this node's security-relevant settings. It
// holds no secret: the CA certificate appears as a hash, and no key does.
func (n *Node) localSettings() map[string]string {
	c := n.cluster
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

// reportSettings reports this node's settings whenever the replicated
// state holds other ones for it (at start, after a change, or once the
// cluster runs a protocol that has the entry), until ctx ends.
func (n *Node) reportSettings(ctx context.Context) {
	mine := n.localSettings()
	tick := time.NewTicker(settingsCheckEvery)
	defer tick.Stop()
	for {
		if n.fsm.Protocol() >= fsm.ProtocolV2 && !maps.Equal(n.fsm.Settings(n.self.ID), mine) {
			n.report(ctx, &fsm.NodeSettings{Node: n.self.ID, Settings: mine})
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// maybeSetLimits runs on the leader's supervisor tick: once the cluster
// runs a protocol that replicates the limits and none are set, the leader
// proposes its own cluster.yaml's. From then on the replicated values
// decide, and a member whose file says otherwise shows as drift.
func (s *supervisor) maybeSetLimits(ctx context.Context) {
	n := s.n
	if n.fsm.Protocol() < fsm.ProtocolV2 {
		return
	}
	if _, replicated := n.fsm.LimitsInForce(); replicated || !s.settingLimits.CompareAndSwap(false, true) {
		return
	}
	n.spawn(func() {
		defer s.settingLimits.Store(false)
		n.propose(ctx, &fsm.SetLimits{MaxHandleTTL: int64(n.cluster.Handles.MaxTTL),
			RequestRecordAge: int64(n.cluster.Lifecycle.DedupAge), Actor: fsm.ActorSupervisor})
	})
}

// driftCollector exposes keyquorum_config_drift{node,setting}: 1 for each
// member's reported setting that differs from what most members report.
// Labels are member ids and setting names from localSettings: a bounded
// set.
type driftCollector struct {
	n    *Node
	desc *prometheus.Desc
}

func newDriftCollector(n *Node) *driftCollector {
	return &driftCollector{n: n, desc: prometheus.NewDesc("keyquorum_config_drift",
		"1 for each member setting that differs from the value most members report (see kq status).", []string{"node", "setting"}, nil)}
}

// Describe implements prometheus.Collector.
func (d *driftCollector) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }

// Collect implements prometheus.Collector.
func (d *driftCollector) Collect(ch chan<- prometheus.Metric) {
	for node, drifts := range d.n.fsm.SettingsDrift() {
		for _, dr := range drifts {
			ch <- prometheus.MustNewConstMetric(d.desc, prometheus.GaugeValue, 1, node, dr.Setting)
		}
	}
}

// sayMode logs the cluster mode at every start: a development cluster must
// never pass for a production one.
func (n *Node) sayMode() {
	if n.cluster.Mode == config.ModeDev {
		n.log.Warn("DEVELOPMENT MODE: the TPM simulator, fixture pre-params and resettable PCRs are allowed; set mode: production to refuse them",
			"tpm", n.cluster.TPM.Backend, "preparams", n.cluster.Preparams.Source)
		return
	}
	n.log.Info("production mode")
}
