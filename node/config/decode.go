package config

import (
	"fmt"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.Node tree by hand rather than through yaml.Unmarshal,
// so it knows the line of every field and can name the path in each error.
type decoder struct {
	file string
	pos  map[string]int
	errs []error
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &FieldError{File: d.file, Line: line, Field: path, Msg: fmt.Sprintf(format, args...)})
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fields visits a mapping node, calling the handler registered for each key.
// Unknown and repeated keys are errors, as is a node that is not a mapping.
func (d *decoder) fields(n *yaml.Node, path string, handlers map[string]func(v *yaml.Node, path string)) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping, got %s", kindName(n))
		return
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		h, ok := handlers[k.Value]
		switch {
		case !ok:
			d.fail(k, p, "unknown field")
			continue
		case seen[k.Value]:
			d.fail(k, p, "field given twice")
			continue
		}
		seen[k.Value] = true
		d.pos[p] = k.Line
		h(v, p)
	}
}

func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "want a single value, got %s", kindName(n))
		return "", false
	}
	if n.Tag == "!!null" {
		return "", true
	}
	return n.Value, true
}

func (d *decoder) str(dst *string) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		if s, ok := d.scalar(n, path); ok {
			*dst = s
		}
	}
}

func (d *decoder) integer(dst *int) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		s, ok := d.scalar(n, path)
		if !ok {
			return
		}
		v, err := strconv.Atoi(s)
		if err != nil || n.Tag != "!!int" {
			d.fail(n, path, "want an integer, got %q", s)
			return
		}
		*dst = v
	}
}

func (d *decoder) duration(dst *time.Duration) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		s, ok := d.scalar(n, path)
		if !ok {
			return
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			d.fail(n, path, "want a duration such as 20s, got %q", s)
			return
		}
		*dst = v
	}
}

func (d *decoder) strMap(dst *map[string]string) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "want a mapping, got %s", kindName(n))
			return
		}
		out := make(map[string]string, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := path + "[" + k.Value + "]"
			d.pos[p] = k.Line
			if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode {
				d.fail(k, p, "want address: address")
				continue
			}
			if _, dup := out[k.Value]; dup {
				d.fail(k, p, "duplicate key")
				continue
			}
			out[k.Value] = v.Value
		}
		*dst = out
	}
}

func (d *decoder) intList(dst *[]int) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "want a list, got %s", kindName(n))
			return
		}
		out := make([]int, 0, len(n.Content))
		for i, item := range n.Content {
			var v int
			p := fmt.Sprintf("%s[%d]", path, i)
			d.pos[p] = item.Line
			d.integer(&v)(item, p)
			out = append(out, v)
		}
		*dst = out
	}
}

func (d *decoder) cluster(root *yaml.Node, c *Cluster) {
	var backend, source string
	d.fields(root, "", map[string]func(*yaml.Node, string){
		"cluster_id": d.str(&c.ID),
		"mode":       d.str(&c.Mode),
		"data_dir":   d.str(&c.DataDir),
		"threshold":  d.integer(&c.Threshold),
		"tpm": func(n *yaml.Node, path string) {
			d.fields(n, path, map[string]func(*yaml.Node, string){
				"backend": d.str(&backend),
				"device":  d.str(&c.TPM.Device),
				"pcrs":    d.intList(&c.TPM.PCRs),
			})
		},
		"preparams": func(n *yaml.Node, path string) {
			d.fields(n, path, map[string]func(*yaml.Node, string){
				"source":       d.str(&source),
				"fixtures_dir": d.str(&c.Preparams.FixturesDir),
			})
		},
		"sign": func(n *yaml.Node, path string) {
			d.fields(n, path, map[string]func(*yaml.Node, string){
				"timeout":      d.duration(&c.Sign.Timeout),
				"max_attempts": d.integer(&c.Sign.MaxAttempts),
				"ed25519":      d.str((*string)(&c.Sign.Ed25519)),
				"frost_pool":   d.integer(&c.Sign.FrostPool),
			})
		},
		"presign": func(n *yaml.Node, path string) {
			d.fields(n, path, map[string]func(*yaml.Node, string){
				"pool": d.integer(&c.Presign.Pool),
				"ttl":  d.duration(&c.Presign.TTL),
			})
		},
		"audit": func(n *yaml.Node, path string) {
			d.fields(n, path, map[string]func(*yaml.Node, string){
				"checkpoint_every": d.integer(&c.Audit.CheckpointEvery),
				"denial_window":    d.duration(&c.Audit.DenialWindow),
			})
		},
		"lifecycle": func(n *yaml.Node, path string) {
			d.fields(n, path, map[string]func(*yaml.Node, string){
				"dual_sign_window": d.duration(&c.Lifecycle.DualSignWindow),
				"destroy_pending":  d.duration(&c.Lifecycle.DestroyPending),
				"dedup_age":        d.duration(&c.Lifecycle.DedupAge),
			})
		},
		"handles": func(n *yaml.Node, path string) {
			d.fields(n, path, map[string]func(*yaml.Node, string){
				"max_ttl": d.duration(&c.Handles.MaxTTL),
			})
		},
		"clock": func(n *yaml.Node, path string) {
			d.fields(n, path, map[string]func(*yaml.Node, string){
				"max_offset": d.duration(&c.Clock.MaxOffset),
			})
		},
		"nodes": func(n *yaml.Node, path string) { c.Nodes = d.nodes(n, path) },
	})
	if backend != "" {
		c.TPM.Backend = TPMBackend(backend)
	}
	if source != "" {
		c.Preparams.Source = PreparamsSource(source)
	}
}

func (d *decoder) nodes(n *yaml.Node, path string) []NodeConfig {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "want a list of nodes, got %s", kindName(n))
		return nil
	}
	out := make([]NodeConfig, len(n.Content))
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.pos[p] = item.Line
		nc := &out[i]
		d.fields(item, p, map[string]func(*yaml.Node, string){
			"id":          d.str(&nc.ID),
			"raft":        d.str(&nc.Raft),
			"peer":        d.str(&nc.Peer),
			"client":      d.str(&nc.Client),
			"tpm_address": d.str(&nc.TPMAddress),
			"via":         d.strMap(&nc.Via),
		})
	}
	return out
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}
