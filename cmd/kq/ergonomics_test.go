package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
)

func TestKeyListFilters(t *testing.T) {
	tc := startCluster(t)
	for _, k := range [][]string{
		{"acme/pay", "--algorithm", "ed25519", "--purpose", "sign", "--purpose", "refunds"},
		{"acme/btc", "--algorithm", "ecdsa-secp256k1"},
		{"globex/pay", "--algorithm", "ed25519"},
	} {
		if _, errOut, code := tc.kq(t, append([]string{"key", "create"}, k...)...); code != 0 {
			t.Fatalf("create %v: %s", k, errOut)
		}
	}
	names := func(args ...string) []string {
		t.Helper()
		out, errOut, code := tc.kq(t, append([]string{"-o", "json", "key", "list"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		var got []string
		for _, k := range decode[render.KeyListView](t, out).Keys {
			got = append(got, k.Name)
		}
		slices.Sort(got)
		return got
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"acme/btc", "acme/pay", "globex/pay"}},
		{[]string{"--prefix", "acme/"}, []string{"acme/btc", "acme/pay"}},
		{[]string{"--algorithm", "ED25519"}, []string{"acme/pay", "globex/pay"}},
		{[]string{"--prefix", "acme/", "--algorithm", "ed25519"}, []string{"acme/pay"}},
		{[]string{"--purpose", "refunds"}, []string{"acme/pay"}},
		{[]string{"--state", "active"}, []string{"acme/btc", "acme/pay", "globex/pay"}},
		{[]string{"--state", "failed"}, nil},
	} {
		if got := names(c.args...); !slices.Equal(got, c.want) {
			t.Errorf("key list %v = %v, want %v", c.args, got, c.want)
		}
	}
	for _, bad := range [][]string{{"--algorithm", "rsa"}, {"--state", "actve"}} {
		if _, errOut, code := tc.kq(t, append([]string{"key", "list"}, bad...)...); code != 2 || !strings.HasPrefix(errOut, "kq: ") {
			t.Errorf("key list %v: exit %d: %q", bad, code, errOut)
		}
	}
}

// cancelAfter is an output that cancels the command once it has seen n
// occurrences of marker, so a --watch test waits for rounds, not time.
type cancelAfter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	n      int
	cancel context.CancelFunc
}

func (w *cancelAfter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Count(w.buf.String(), w.marker) >= w.n {
		w.cancel()
	}
	return len(p), nil
}

func TestStatusWatch(t *testing.T) {
	tc := startCluster(t)
	for _, c := range []struct {
		format, marker string
	}{{"table", "cluster kq-test  leader n2"}, {"json", `"cluster_id": "kq-test"`}} {
		ctx, cancel := context.WithCancel(context.Background())
		out := &cancelAfter{marker: c.marker, n: 3, cancel: cancel}
		var errOut bytes.Buffer
		code := run(ctx, []string{"--config", tc.config, "-o", c.format, "status", "--watch", "--interval", "100ms"}, out, &errOut)
		cancel()
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.format, code, errOut.String())
		}
		if c.format == "table" {
			if n := strings.Count(out.buf.String(), "every 100ms, "); n < 3 {
				t.Errorf("%d round headers in\n%s", n, out.buf.String())
			}
			continue
		}
		dec := json.NewDecoder(&out.buf)
		rounds := 0
		for {
			var v render.StatusView
			if err := dec.Decode(&v); err == io.EOF {
				break
			} else if err != nil || v.Leader != "n2" {
				t.Fatalf("round %d: %v, %+v", rounds, err, v)
			}
			rounds++
		}
		if rounds < 3 {
			t.Errorf("%d JSON rounds", rounds)
		}
	}
	if _, errOut, code := tc.kq(t, "status", "--watch", "--wait"); code != 2 {
		t.Errorf("--watch --wait: exit %d: %q", code, errOut)
	}
}

// Pre-params still generating: status --wait says so while it waits and
// when it gives up, and a key that needs them fails with what to do next.
func TestPreParamsNotReadySaysWhatToDo(t *testing.T) {
	tc := startCluster(t)
	tc.leader.mu.Lock()
	tc.leader.preparams = "generating (43s)"
	tc.leader.mu.Unlock()

	_, errOut, code := tc.kq(t, "--node", "n2", "--timeout", "1500ms", "status", "--wait")
	if code != 1 || !strings.Contains(errOut, "kq: waiting 0s: pre-params generating (43s) on n2\n") ||
		!strings.Contains(errOut, "kq: DeadlineExceeded: cluster not ready within --timeout: pre-params generating (43s) on n2") {
		t.Errorf("status --wait: exit %d: %q", code, errOut)
	}

	_, errOut, code = tc.kq(t, "key", "create", "needs-preparams", "--algorithm", "ecdsa-secp256k1", "--request-id", "r-pp")
	want := "kq: FailedPrecondition: pre-parameters not ready on n2: pre-params still generating (43s) on n2: retry, or `kq status --wait` until they are ready\n"
	if code != 1 || errOut != want {
		t.Errorf("create: exit %d:\n%q\nwant\n%q", code, errOut, want)
	}

	tc.leader.mu.Lock()
	tc.leader.preparams = ""
	tc.leader.mu.Unlock()
	if out, errOut, code := tc.kq(t, "--node", "n2", "status", "--wait"); code != 0 || errOut != "" || !strings.Contains(out, "leader n2") {
		t.Errorf("ready: exit %d: %s%q", code, out, errOut)
	}
}

func TestCompletion(t *testing.T) {
	tc := startCluster(t)
	for shell, mark := range map[string]string{"bash": "__start_kq", "zsh": "#compdef kq", "fish": "complete -c kq"} {
		out, errOut, code := tc.kq(t, "completion", shell)
		if code != 0 || !strings.Contains(out, mark) {
			t.Errorf("completion %s: exit %d, %d bytes without %q: %s", shell, code, len(out), mark, errOut)
		}
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "key", "l"}, []string{"list"}},
		{[]string{"__complete", "sign", "k", "--format", ""}, []string{"der", "raw", "eth"}},
		{[]string{"__complete", "key", "create", "k", "--algorithm", ""}, []string{"ecdsa-secp256k1", "ed25519"}},
		{[]string{"__complete", "--node", ""}, []string{"n1", "n2", "n3"}}, // from --config
		{[]string{"__complete", "-o", ""}, []string{"table", "json"}},
	} {
		out, errOut, code := tc.kq(t, c.args...)
		var got []string
		for _, line := range strings.Split(out, "\n") {
			if w, _, _ := strings.Cut(line, "\t"); w != "" && !strings.HasPrefix(w, ":") {
				got = append(got, w)
			}
		}
		if code != 0 || !slices.Equal(got, c.want) {
			t.Errorf("%v: exit %d: %v, want %v (%s)", c.args, code, got, c.want, errOut)
		}
	}
}
