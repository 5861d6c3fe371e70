package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const good = `cluster_id: keyquorum-dev
data_dir: data
threshold: 1
tpm:
  backend: simulator
  pcrs: [16]
preparams:
  source: generate
sign:
  timeout: 20s
  max_attempts: 3
nodes:
  - id: n1
    raft: 127.0.0.1:7101
    peer: 127.0.0.1:7201
    client: 127.0.0.1:7301
  - id: n2
    raft: 127.0.0.1:7102
    peer: 127.0.0.1:7202
    client: 127.0.0.1:7302
  - id: n3
    raft: 127.0.0.1:7103
    peer: 127.0.0.1:7203
    client: 127.0.0.1:7303
`

func TestParseGood(t *testing.T) {
	c, err := Parse([]byte(good), "/etc/kq", "cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "keyquorum-dev" || c.DataDir != "/etc/kq/data" || c.Threshold != 1 {
		t.Errorf("got id %q data %q threshold %d", c.ID, c.DataDir, c.Threshold)
	}
	if c.TPM.Backend != BackendSimulator || !reflect.DeepEqual(c.TPM.PCRs, []int{16}) {
		t.Errorf("tpm = %+v", c.TPM)
	}
	if c.Sign.Timeout != 20*time.Second || c.Sign.MaxAttempts != 3 {
		t.Errorf("sign = %+v", c.Sign)
	}
	n2, ok := c.Node("n2")
	if !ok || n2.Raft != "127.0.0.1:7102" || n2.Peer != "127.0.0.1:7202" || n2.Client != "127.0.0.1:7302" {
		t.Errorf("Node(n2) = %+v, %v", n2, ok)
	}
	if _, ok := c.Node("n9"); ok {
		t.Error("Node(n9) found")
	}
	if got := c.NodeDir("n1"); got != "/etc/kq/data/n1" {
		t.Errorf("NodeDir = %q", got)
	}
	if got := c.CertsDir(); got != "/etc/kq/data/certs" {
		t.Errorf("CertsDir = %q", got)
	}
}

func TestDefaultsFillOmittedFields(t *testing.T) {
	src := `cluster_id: c
nodes:
  - {id: b, raft: "h:1", peer: "h:2", client: "h:3"}
  - {id: a, raft: "h:4", peer: "h:5", client: "h:6"}
`
	c, err := Parse([]byte(src), "/x", "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultCluster()
	if c.Threshold != d.Threshold || c.TPM.Backend != d.TPM.Backend || c.Sign != d.Sign || c.Preparams.Source != d.Preparams.Source {
		t.Errorf("defaults not applied: %+v", c)
	}
	if c.DataDir != "/x/data" {
		t.Errorf("DataDir = %q", c.DataDir)
	}
	if got := c.NodeIDs(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("NodeIDs = %v", got)
	}
}

func TestRepositoryClusterFileLoads(t *testing.T) {
	c, err := Load("../../cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Nodes) != 3 || c.Threshold != 1 || c.TPM.Backend != BackendSimulator || c.Preparams.Source != PreparamsGenerate {
		t.Errorf("unexpected cluster: %+v", c)
	}
	if !filepath.IsAbs(c.DataDir) {
		t.Errorf("DataDir %q is not absolute", c.DataDir)
	}
}

func TestLoadResolvesRelativeToFile(t *testing.T) {
	dir := t.TempDir()
	src := strings.Replace(good, "source: generate", "source: fixtures\n  fixtures_dir: fx", 1)
	path := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != filepath.Join(dir, "data") || c.PreparamsFixture("n1") != filepath.Join(dir, "fx", "n1.json") {
		t.Errorf("DataDir %q fixture %q", c.DataDir, c.PreparamsFixture("n1"))
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.HasPrefix(err.Error(), "config: ") {
		t.Errorf("missing file: %v", err)
	}
}

// edit replaces the first occurrence of old in the good config.
func edit(old, repl string) string {
	if !strings.Contains(good, old) {
		panic("test config lacks " + old)
	}
	return strings.Replace(good, old, repl, 1)
}

func TestParseBad(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // line, field and message fragment expected in the error
	}{
		{"raft lacks port", edit("raft: 127.0.0.1:7102", "raft: 127.0.0.1"),
			`cluster.yaml:18: nodes[1].raft: address "127.0.0.1" lacks a port`},
		{"unknown top field", edit("threshold: 1", "threshold: 1\nthreshhold: 2"),
			"cluster.yaml:4: threshhold: unknown field"},
		{"unknown node field", edit("    client: 127.0.0.1:7303", "    client: 127.0.0.1:7303\n    clinet: x"),
			"cluster.yaml:25: nodes[2].clinet: unknown field"},
		{"duplicate field", edit("data_dir: data", "data_dir: data\ndata_dir: other"),
			"cluster.yaml:3: data_dir: field given twice"},
		{"empty cluster id", edit("cluster_id: keyquorum-dev", `cluster_id: ""`),
			"cluster.yaml:1: cluster_id:"},
		{"cluster id charset", edit("cluster_id: keyquorum-dev", "cluster_id: Key/Quorum"),
			"cluster.yaml:1: cluster_id:"},
		{"duplicate node id", edit("id: n3", "id: n1"),
			`cluster.yaml:21: nodes[2].id: "n1" is already the id of nodes[0]`},
		{"bad node id", edit("id: n2", "id: N_2"),
			"cluster.yaml:17: nodes[1].id:"},
		{"address reused", edit("peer: 127.0.0.1:7203", "peer: 127.0.0.1:7101"),
			`cluster.yaml:23: nodes[2].peer: address "127.0.0.1:7101" is already used by nodes[0].raft`},
		{"missing address", edit("    client: 127.0.0.1:7302\n", ""),
			"cluster.yaml:17: nodes[1].client: address is required"},
		{"bad port", edit("client: 127.0.0.1:7301", "client: 127.0.0.1:99999"),
			"cluster.yaml:16: nodes[0].client: address \"127.0.0.1:99999\" has an invalid port"},
		{"no host", edit("client: 127.0.0.1:7301", "client: :7301"),
			"cluster.yaml:16: nodes[0].client: address \":7301\" lacks a host"},
		{"threshold too high", edit("threshold: 1", "threshold: 3"),
			"cluster.yaml:3: threshold: 3 is outside [1, 2]"},
		{"threshold zero", edit("threshold: 1", "threshold: 0"),
			"cluster.yaml:3: threshold: 0 is outside [1, 2]"},
		{"threshold not int", edit("threshold: 1", "threshold: one"),
			`cluster.yaml:3: threshold: want an integer, got "one"`},
		{"unknown backend", edit("backend: simulator", "backend: hsm"),
			`cluster.yaml:5: tpm.backend: "hsm" is not one of`},
		{"swtpm needs address", edit("backend: simulator", "backend: swtpm"),
			"cluster.yaml:13: nodes[0].tpm_address: required when tpm.backend is swtpm"},
		{"pcr out of range", edit("pcrs: [16]", "pcrs: [16, 24]"),
			"cluster.yaml:6: tpm.pcrs[1]: PCR 24 is outside [0, 23]"},
		{"fixtures need dir", edit("source: generate", "source: fixtures"),
			"cluster.yaml:7: preparams.fixtures_dir: required when preparams.source is fixtures"},
		{"unknown source", edit("source: generate", "source: magic"),
			`cluster.yaml:8: preparams.source: "magic" is not one of`},
		{"bad duration", edit("timeout: 20s", "timeout: soon"),
			`cluster.yaml:10: sign.timeout: want a duration such as 20s, got "soon"`},
		{"negative duration", edit("timeout: 20s", "timeout: -1s"),
			"cluster.yaml:10: sign.timeout: -1s must be positive"},
		{"max attempts too high", edit("max_attempts: 3", "max_attempts: 11"),
			"cluster.yaml:11: sign.max_attempts: 11 is outside [1, 10]"},
		{"max attempts zero", edit("max_attempts: 3", "max_attempts: 0"),
			"cluster.yaml:11: sign.max_attempts: 0 is outside [1, 10]"},
		{"nodes not a list", edit("nodes:", "nodes: {}\nx:"),
			"cluster.yaml:12: nodes: want a list of nodes, got a mapping"},
		{"tpm not a mapping", edit("tpm:\n  backend: simulator\n  pcrs: [16]", "tpm: simulator"),
			`cluster.yaml:4: tpm: want a mapping, got "simulator"`},
		{"yaml syntax", "cluster_id: [\n", "cluster.yaml: yaml: line"},
		{"empty", "", "cluster.yaml: empty document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.src), "/x", "cluster.yaml")
			if err == nil {
				t.Fatalf("no error; got %+v", c)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tt.want)
			}
		})
	}
}

func TestSwtpmAddressesClaimControlPort(t *testing.T) {
	src := edit("backend: simulator", "backend: swtpm")
	src = strings.Replace(src, "client: 127.0.0.1:7301", "client: 127.0.0.1:7301\n    tpm_address: 127.0.0.1:2321", 1)
	src = strings.Replace(src, "client: 127.0.0.1:7302", "client: 127.0.0.1:7302\n    tpm_address: 127.0.0.1:2322", 1)
	src = strings.Replace(src, "client: 127.0.0.1:7303", "client: 127.0.0.1:7303\n    tpm_address: 127.0.0.1:2325", 1)
	_, err := Parse([]byte(src), "/x", "cluster.yaml")
	want := `cluster.yaml:22: nodes[1].tpm_address: address "127.0.0.1:2322" is already used by nodes[0].tpm_address (control port)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %s", err, want)
	}
	src = strings.Replace(src, "2322", "2323", 1)
	c, err := Parse([]byte(src), "/x", "cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Node("n2"); n.TPMAddress != "127.0.0.1:2323" {
		t.Errorf("tpm_address = %q", n.TPMAddress)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	src := edit("threshold: 1", "threshold: 7")
	src = strings.Replace(src, "max_attempts: 3", "max_attempts: 0", 1)
	_, err := Parse([]byte(src), "/x", "cluster.yaml")
	if err == nil || !strings.Contains(err.Error(), "threshold") || !strings.Contains(err.Error(), "max_attempts") {
		t.Fatalf("want both problems, got %v", err)
	}
}

func TestValidateBuiltCluster(t *testing.T) {
	c := DefaultCluster()
	c.ID = "c"
	c.DataDir = "/d"
	c.Nodes = []NodeConfig{{ID: "a", Raft: "h:1", Peer: "h:2", Client: "h:3"}}
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "config: nodes: a cluster needs at least 2 nodes") {
		t.Fatalf("err = %v", err)
	}
	c.Nodes = append(c.Nodes, NodeConfig{ID: "b", Raft: "h:4", Peer: "h:5", Client: "h:6"})
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidIDs(t *testing.T) {
	for id, want := range map[string]bool{
		"n1": true, "0": true, "a-b": true, "-a": false, "A": false, "a_b": false, "": false,
		strings.Repeat("a", 32): true, strings.Repeat("a", 33): false,
	} {
		if got := ValidNodeID(id); got != want {
			t.Errorf("ValidNodeID(%q) = %v", id, got)
		}
	}
	for id, want := range map[string]bool{"keyquorum-dev": true, "a.b_c": true, ".a": false, "a/b": false} {
		if got := ValidClusterID(id); got != want {
			t.Errorf("ValidClusterID(%q) = %v", id, got)
		}
	}
}
