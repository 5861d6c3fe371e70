// Package testbin provides the kqd and kq binaries that tests start as
// processes: built by the test binary itself, or built once before the
// tests when Env names a directory. make test builds them once for node
// and jepsen/scenarios, which would otherwise each build the release and
// the kqd_bugs binaries.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Env names a directory holding kqd and kq built before the tests from the
// same tree, and the builds with a tag each in a subdirectory named after
// the tag (kqd_bugs/, kqd_compat/). Set it only for one run of go test
// right after building: the tests do not check that the binaries are
// current.
const Env = "KQ_TEST_BIN"

// Dir returns the directory of the prebuilt kqd and kq with the given build
// tag ("" for none), or "" when Env is unset or holds no such build.
func Dir(tag string) string {
	root := os.Getenv(Env)
	if root == "" {
		return ""
	}
	dir := filepath.Join(root, tag)
	for _, name := range []string{"kqd", "kq"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
			return ""
		}
	}
	return dir
}

// Build builds kqd and kq of the module at root into dir, with the given
// build tags ("" for none).
func Build(root, dir, tags string) error {
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, "./cmd/kqd", "./cmd/kq")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testbin: build kqd and kq (tags %q): %w\n%s", tags, err, out)
	}
	return nil
}
