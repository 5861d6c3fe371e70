package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// Load reads and validates the cluster file at path. Relative paths inside
// it are resolved against the file's directory. Errors name the file as path
// was given; validation errors wrap ErrInvalid.
func Load(path string) (*Cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, filepath.Dir(path), path)
}

// Parse decodes and validates a cluster file's contents. baseDir anchors the
// relative paths in it; name is used in error messages. Every problem found
// is reported, joined with errors.Join, each a *FieldError.
func Parse(data []byte, baseDir, name string) (*Cluster, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &FieldError{File: name, Msg: err.Error()}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, &FieldError{File: name, Msg: "empty document"}
	}
	base, err := filepath.Abs(baseDir)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c := DefaultCluster()
	d := &decoder{file: name, pos: map[string]int{"": doc.Content[0].Line}}
	d.cluster(doc.Content[0], &c)
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	c.file, c.pos = name, d.pos
	c.DataDir = resolve(base, c.DataDir)
	if c.Preparams.FixturesDir != "" {
		c.Preparams.FixturesDir = resolve(base, c.Preparams.FixturesDir)
	}
	if c.TPM.Backend == BackendDevice && c.TPM.Device == "" {
		c.TPM.Device = DefaultDevice
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func resolve(base, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}
