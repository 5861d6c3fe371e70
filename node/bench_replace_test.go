package node_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/bench"
	"github.com/keyquorum/keyquorum/tss"
)

// TestBenchReplaceNode times replacing n3 by a new node n4 in a 3-node
// cluster (simulator TPM, pre-params fixtures) that holds
// KQ_BENCH_REPLACE_KEYS (default 10) ECDSA and as many Ed25519 keys, while
// one client signs with an Ed25519 key and another with an ECDSA key, and
// compares their latency before and during the replacement. Every key's
// public key must be unchanged afterwards and held by n1, n2 and n4.
func TestBenchReplaceNode(t *testing.T) {
	requireBench(t)
	perAlg := 10
	if s := os.Getenv("KQ_BENCH_REPLACE_KEYS"); s != "" {
		fmt.Sscan(s, &perAlg)
	}
	c := startCluster(t, "simulator")
	// Through n1, which stays: n3 may lead now, and once removed it
	// serves no one.
	kc := benchClient(t, c, "n1")
	created := time.Now()
	pubs := map[string][]byte{}
	for i := range perAlg {
		_, pubs[fmt.Sprintf("rep-ec-%d", i)] = benchCreateKey(t, kc, fmt.Sprintf("rep-ec-%d", i), tss.ECDSASecp256k1)
		_, pubs[fmt.Sprintf("rep-ed-%d", i)] = benchCreateKey(t, kc, fmt.Sprintf("rep-ed-%d", i), tss.Ed25519)
	}
	t.Logf("%d keys created in %s", len(pubs), time.Since(created).Round(time.Second))

	type signLoad struct {
		name  string
		alg   tss.Algorithm
		op    bench.Op
		mu    sync.Mutex
		lat   []time.Duration
		fails int
	}
	loads := []*signLoad{{name: "rep-ed-0", alg: tss.Ed25519}, {name: "rep-ec-0", alg: tss.ECDSASecp256k1}}
	for _, l := range loads {
		cfg := bench.DefaultSignConfig(l.name, 1)
		pub := pubs[l.name]
		cfg.Check = func(msg, sig []byte) bool { return tss.Verify(l.alg, pub, msg, sig) }
		var err error
		if l.op, err = bench.SignOp(kc, cfg); err != nil {
			t.Fatal(err)
		}
	}
	// sample signs with every load until stop, and returns each load's
	// latencies; a failed or bad signature is counted, not timed.
	sample := func(stop <-chan struct{}, first int) [][]time.Duration {
		var wg sync.WaitGroup
		for _, l := range loads {
			l.lat, l.fails = nil, 0
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := first; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					d, err := l.op(context.Background(), i)
					l.mu.Lock()
					if err != nil {
						l.fails++
						t.Logf("%s: %v", l.name, err)
					} else {
						l.lat = append(l.lat, d)
					}
					l.mu.Unlock()
				}
			}()
		}
		wg.Wait()
		out := make([][]time.Duration, len(loads))
		for i, l := range loads {
			out[i] = l.lat
		}
		return out
	}
	quietStop := make(chan struct{})
	go func() { time.Sleep(20 * time.Second); close(quietStop) }()
	quiet := sample(quietStop, 0)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	n4, err := c.AddNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	duringCh := make(chan [][]time.Duration)
	go func() { duringCh <- sample(stop, 1_000_000) }()
	start := time.Now()
	if _, err := c.KQ(ctx, "-o", "json", "node", "replace", "n3", "--with", n4); err != nil {
		t.Fatal(err)
	}
	if err := c.StartNode(n4); err != nil {
		t.Fatal(err)
	}
	waitNodeState(ctx, t, c, n4, "voter")
	voter := time.Since(start)
	waitNodeState(ctx, t, c, "n3", "removed")
	replaced := time.Since(start)
	close(stop)
	during := <-duringCh
	fails := []int{loads[0].fails, loads[1].fails}

	keys, err := kc.ListKeys(ctx, &kqpb.ListKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys.Keys {
		want, ok := pubs[k.Name]
		if !ok {
			continue
		}
		if !bytes.Equal(k.PublicKey, want) {
			t.Errorf("%s: public key changed", k.Name)
		}
		if !slices.Equal(k.Members, []string{"n1", "n2", n4}) {
			t.Errorf("%s: holders %v", k.Name, k.Members)
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\n## Replacing a node\n\n")
	fmt.Fprintf(&b, "`KQ_BENCH=1 go test -count=1 -run TestBenchReplaceNode -v -timeout 60m ./node/`: `kq node replace n3 --with n4`\n"+
		"on 3 nodes (simulator TPM, pre-params fixtures) holding %d ECDSA and %d Ed25519 keys, while one client\n"+
		"signs with an Ed25519 key and one with an ECDSA key, each one request at a time. Every public key was\n"+
		"unchanged and held by n1, n2 and %s afterwards. Load average at the end: %s.\n\n", perAlg, perAlg, n4, loadAverage())
	fmt.Fprintf(&b, "| row | result |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| replace: start of n4 → n4 a voter (every key reshared to it) | %s |\n", voter.Round(100*time.Millisecond))
	fmt.Fprintf(&b, "| replace: start of n4 → n3 removed | %s |\n", replaced.Round(100*time.Millisecond))
	for i, l := range loads {
		fmt.Fprintf(&b, "| %s sign p50 / p99 before (n=%d) | %s / %s |\n", benchLabel(l.alg), len(quiet[i]),
			bench.Millis(bench.Percentile(quiet[i], 0.5)), bench.Millis(bench.Percentile(quiet[i], 0.99)))
		fmt.Fprintf(&b, "| %s sign p50 / p99 during (n=%d, %d failed) | %s / %s |\n", benchLabel(l.alg), len(during[i]), fails[i],
			bench.Millis(bench.Percentile(during[i], 0.5)), bench.Millis(bench.Percentile(during[i], 0.99)))
	}
	writeBenchReport(t, b.String())
}
