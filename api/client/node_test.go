package client_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNodeSignsOverMutualTLS runs api/examples/node/sign.mjs: another
// language's gRPC stack, loading the proto file as it is, calls Sign over
// mutual TLS, and node:crypto (OpenSSL) verifies the Ed25519 and secp256k1
// signatures. The example is copied to a temporary directory and installed
// there with npm ci, from its lockfile, so the source tree gets no
// node_modules.
func TestNodeSignsOverMutualTLS(t *testing.T) {
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		t.Skip("node and npm are not installed: the Node.js proof needs them (Debian: nodejs, npm)")
	}
	ed, ec := signer(t, "ed"), signer(t, "ec")
	src := filepath.Join(repoRoot(), "api", "examples", "node")
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "sign.mjs"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v: %s", err, out)
	}

	files := map[string]string{"ca.pem": string(shared.cfg.CA), "client.pem": string(shared.cfg.Cert), "client.key": string(shared.cfg.Key),
		"ed.pem": shared.ed.GetPublicKeyPem(), "ec.pem": shared.ec.GetPublicKeyPem()}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := exec.CommandContext(ctx, node, "sign.mjs")
	run.Dir = dir
	run.Env = append(os.Environ(),
		"KQ_PROTO="+filepath.Join(repoRoot(), "api", "keyquorum.proto"),
		"KQ_ENDPOINT="+shared.cfg.Endpoints[len(shared.cfg.Endpoints)-1],
		"KQ_CA="+filepath.Join(dir, "ca.pem"), "KQ_CERT="+filepath.Join(dir, "client.pem"), "KQ_KEY="+filepath.Join(dir, "client.key"),
		"KQ_ED_HANDLE="+ed.Handle().Token.Bearer(), "KQ_ED_PUBKEY="+filepath.Join(dir, "ed.pem"),
		"KQ_EC_HANDLE="+ec.Handle().Token.Bearer(), "KQ_EC_PUBKEY="+filepath.Join(dir, "ec.pem"))
	var stderr strings.Builder
	run.Stderr = &stderr
	out, err := run.Output()
	if err != nil {
		t.Fatalf("node sign.mjs: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r struct {
			Algorithm string `json:"algorithm"`
			Key       string `json:"key"`
			Valid     bool   `json:"valid"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil || !r.Valid {
			t.Fatalf("node: %q: %v", line, err)
		}
		seen[r.Algorithm] = true
	}
	if !seen["ed25519"] || !seen["ecdsa-secp256k1"] {
		t.Fatalf("node checked %v, want both algorithms:\n%s", seen, out)
	}
	t.Logf("node: %s", out)
}
