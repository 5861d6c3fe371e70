package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary YAML to Parse. It must not panic; every
// refusal wraps ErrInvalid; every accepted cluster validates again, has an
// absolute data directory, a threshold below its node count and nodes
// that can be looked up by their unique ids.
func FuzzParse(f *testing.F) {
	if dev, err := os.ReadFile("../../cluster.yaml"); err == nil {
		f.Add(dev)
	}
	f.Add([]byte(good))
	f.Add([]byte(strings.Replace(good, "backend: simulator", "backend: swtpm", 1) +
		"preparams: {source: fixtures, fixtures_dir: fx}\nnodes: &n [{id: a, raft: \"h:1\", peer: \"[::1]:2\", client: \"h:3\", tpm_address: \"h:4\", via: {\"h:1\": \"p:1\"}}]\n"))
	f.Add([]byte("cluster_id: c\nnodes:\n  - {id: b, raft: \"h:1\", peer: \"h:2\", client: \"h:3\"}\n  - *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "/etc/kq", "cluster.yaml")
		if err != nil {
			if c != nil || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse refused with %v (cluster %v); want an error wrapping ErrInvalid", err, c)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("an accepted cluster does not validate: %v", err)
		}
		n := len(c.Nodes)
		switch {
		case !filepath.IsAbs(c.DataDir):
			t.Fatalf("data_dir %q is not absolute", c.DataDir)
		case n < 2 || c.Threshold < 1 || c.Threshold >= n:
			t.Fatalf("threshold %d with %d nodes", c.Threshold, n)
		case !ValidClusterID(c.ID):
			t.Fatalf("cluster id %q", c.ID)
		}
		seen := map[string]bool{}
		for _, nc := range c.Nodes {
			got, ok := c.Node(nc.ID)
			if !ValidNodeID(nc.ID) || seen[nc.ID] || !ok || got.ID != nc.ID {
				t.Fatalf("node id %q is invalid, repeated or not found", nc.ID)
			}
			seen[nc.ID] = true
			if d := c.NodeDir(nc.ID); filepath.Dir(d) != filepath.Clean(c.DataDir) {
				t.Fatalf("node %q keeps its state in %q, outside %q", nc.ID, d, c.DataDir)
			}
		}
	})
}
