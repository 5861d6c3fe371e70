package node_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
	"github.com/keyquorum/keyquorum/sealing"
)

// TestCrashLeavesNoCoreAndNoSecrets kills a kqd that holds an opened share
// and its pre-params with SIGABRT under GOTRACEBACK=crash, the setting in
// which the Go runtime asks the kernel for a core dump. The process is
// started with core dumps allowed by its parent, so only kqd's own hygiene
// (RLIMIT_CORE = 0, PR_SET_DUMPABLE = 0) stands between it and a core file
// holding the share. The test asserts that no core file appears and that
// the crash output holds none of the node's secrets.
func TestCrashLeavesNoCoreAndNoSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	pattern, err := os.ReadFile("/proc/sys/kernel/core_pattern")
	if err != nil {
		t.Skipf("no core_pattern to check against: %v", err)
	}
	c := startCluster(t, "swtpm")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := mustTestClient(t, c, "n3")
	createKey(ctx, t, cl, "ed", kqpb.Algorithm_ED25519)

	// n1 restarts under the test's control; with n2 down every committee
	// includes n1, so a signature proves n1 opened its share.
	c.StopNode("n1")
	c.StopNode("n2")
	work := t.TempDir()
	outPath := filepath.Join(t.TempDir(), "n1.out")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	output := func() []byte {
		b, err := os.ReadFile(outPath)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	kqd := exec.Command(filepath.Join(binDir, "kqd"), "--config", c.ConfigPath, "--node", "n1", "--log-level", "debug")
	kqd.Dir, kqd.Stdout, kqd.Stderr = work, out, out
	kqd.Env = append(os.Environ(), "GOTRACEBACK=crash")
	restore := allowCores(t)
	err = kqd.Start()
	restore()
	if err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- kqd.Wait() }()
	t.Cleanup(func() {
		if kqd.ProcessState == nil {
			_ = kqd.Process.Kill()
			<-exited
		}
	})
	signWith(ctx, t, cl, "ed")
	if !bytes.Contains(output(), []byte("process hardened")) {
		t.Fatalf("kqd did not log its hardening:\n%s", tail(output(), 2000))
	}

	started := time.Now()
	if err := kqd.Process.Signal(syscall.SIGABRT); err != nil {
		t.Fatal(err)
	}
	var exit *exec.ExitError
	if err := <-exited; !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGABRT {
		t.Fatalf("kqd did not die of SIGABRT: %v", err)
	}
	crash := output()
	if !bytes.Contains(crash, []byte("SIGABRT")) || !bytes.Contains(crash, []byte("goroutine ")) {
		t.Fatalf("no crash traceback in the output:\n%s", tail(crash, 2000))
	}
	ws := exit.Sys().(syscall.WaitStatus)
	if ws.CoreDump() {
		t.Error("the kernel reports a core dump")
	}
	for _, f := range coreFiles(t, strings.TrimSpace(string(pattern)), work, kqd.Process.Pid, started) {
		t.Errorf("core file written: %s", f)
	}

	secrets := nodeSecrets(ctx, t, c, "n1", "ed")
	for i, s := range secrets {
		if bytes.Contains(crash, s) {
			t.Errorf("secret #%d (%d bytes) in the crash output", i, len(s))
		}
	}
	t.Logf("crash output: %d bytes, scanned for %d secret encodings", len(crash), len(secrets))
}

// allowCores raises this process's soft core limit to its hard limit, so
// the kqd started next inherits permission to dump core, and returns a
// function restoring the old limit.
func allowCores(t *testing.T) func() {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_CORE, &old); err != nil {
		t.Fatal(err)
	}
	if old.Max == 0 {
		t.Log("hard core limit is 0: a core could not appear even without kqd's hygiene")
		return func() {}
	}
	raised := syscall.Rlimit{Cur: old.Max, Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_CORE, &raised); err != nil {
		t.Fatal(err)
	}
	return func() { _ = syscall.Setrlimit(syscall.RLIMIT_CORE, &old) }
}

// coreFiles lists files the kernel may have written for pid under
// core_pattern: in dir when the pattern is relative, in the pattern's
// directory when it is absolute. A piped pattern ("|/usr/lib/...") hands the
// core to a program the test cannot see into; the kernel's core-dumped
// flag in the wait status still covers that case.
func coreFiles(t *testing.T, pattern, dir string, pid int, since time.Time) []string {
	if strings.HasPrefix(pattern, "|") {
		t.Logf("core_pattern pipes to %q; relying on the wait status", pattern)
		return nil
	}
	if filepath.IsAbs(pattern) {
		dir = filepath.Dir(pattern)
	}
	var found []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	prefix, _, _ := strings.Cut(filepath.Base(pattern), "%")
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || info.ModTime().Before(since) || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		found = append(found, filepath.Join(dir, e.Name()))
	}
	return found
}

// signWith signs once with key through cl, retrying while the cluster
// settles after a restart.
func signWith(ctx context.Context, t *testing.T, cl kqpb.KeyServiceClient, key string) {
	t.Helper()
	var last error
	for ctx.Err() == nil {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := cl.Sign(sctx, &kqpb.SignRequest{Key: key, Digest: digest("crash test")})
		cancel()
		if err == nil {
			return
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("sign with %s: %v", key, last)
}

// nodeSecrets opens a node's sealed share of key with the node's TPM and
// returns its secret scalar in the usual encodings, the plaintext share,
// and the node's pre-params primes.
func nodeSecrets(ctx context.Context, t *testing.T, c *cluster.Cluster, id, key string) [][]byte {
	tpm, err := sealing.OpenTPM(ctx, sealingConfig(c, id), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tpm.Close()
	blob, err := os.ReadFile(filepath.Join(c.DataDir(), id, "shares", key, "v1.sealed"))
	if err != nil {
		t.Fatal(err)
	}
	b := sealing.Binding{ClusterID: "kq-test", NodeID: id, Kind: sealing.KindShare, KeyID: key, Version: 1}
	plain, err := tpm.Open(ctx, b, blob)
	if err != nil {
		t.Fatal(err)
	}
	xi := secretScalar(t, plain)
	secrets := append(encodings(xi), plain, inMemory(xi.Bytes()))
	primes := fixturePrimes(t, id)
	for _, p := range primes[2:] { // the big-endian byte forms
		secrets = append(secrets, inMemory(p))
	}
	return append(secrets, primes...)
}

// inMemory is how a big.Int's words sit in memory on a little-endian
// machine: the big-endian bytes reversed, least significant word first.
// A dump of memory would show this form, not the ones encodings lists.
func inMemory(be []byte) []byte {
	le := slices.Clone(be)
	slices.Reverse(le)
	return le[:min(len(le), 16)] // two words are enough to be unmistakable
}
