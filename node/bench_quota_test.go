package node_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/bench"
)

// retryDelay is the RetryInfo delay of a RESOURCE_EXHAUSTED refusal, or
// 100 ms when it names none.
func retryDelay(err error) time.Duration {
	for _, d := range status.Convert(err).Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok && r.RetryDelay.AsDuration() > 0 {
			return r.RetryDelay.AsDuration()
		}
	}
	return 100 * time.Millisecond
}

// TestBenchTenantQuotaIsolation measures what a tenant at its quota costs
// another: acme's signer signs one request at a time, first alone, then
// while six clients of globex sign against globex's sign_per_second and
// sessions quotas (quotaE2EPolicy), first waiting the retry delay each
// refusal names, then asking again at once, then alone again. The target
// is acme's p50 with globex at its quota within 1.5 times its p50 alone
// (the mean of both quiet phases, measured in the same run).
func TestBenchTenantQuotaIsolation(t *testing.T) {
	requireBench(t)
	runs := 150
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	q := startQuotaCluster(ctx, t)
	seq := 0
	acme := func() []time.Duration {
		var out []time.Duration
		for range runs {
			seq++
			d := sha256.Sum256(fmt.Appendf(nil, "acme bench %d", seq))
			cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
			start := time.Now()
			_, err := q.bob.Sign(cctx, &kqpb.SignRequest{Handle: q.hA, Digest: d[:], RequestId: fmt.Sprintf("acme-bench-%d", seq)})
			el := time.Since(start)
			ccancel()
			if err != nil {
				t.Fatalf("acme sign %d: %v", seq, err)
			}
			out = append(out, el)
		}
		return out
	}
	acme() // warm up: connections, the share cache, FROST commitments
	quiet := acme()

	// globex floods with six clients until the returned stop is called,
	// which reports how many requests it sent and how many were refused.
	// A polite client waits the RetryInfo delay after a refusal; a rude
	// one asks again at once.
	globex := func(polite bool) (stop func() (sent, refused int64)) {
		var (
			done          atomic.Bool
			sentN, refusN atomic.Int64
			wg            sync.WaitGroup
		)
		for g := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; !done.Load() && ctx.Err() == nil; i++ {
					seq := fmt.Sprintf("%t-%d-%d", polite, g, i)
					d := sha256.Sum256([]byte("globex bench " + seq))
					_, err := q.mal.Sign(ctx, &kqpb.SignRequest{Handle: q.hG, Digest: d[:], RequestId: "globex-bench-" + seq})
					sentN.Add(1)
					if status.Code(err) != codes.ResourceExhausted {
						continue
					}
					refusN.Add(1)
					if polite {
						time.Sleep(retryDelay(err))
					}
				}
			}()
		}
		return func() (int64, int64) {
			done.Store(true)
			wg.Wait()
			return sentN.Load(), refusN.Load()
		}
	}
	stopPolite := globex(true)
	polite := acme()
	pSent, pRefused := stopPolite()
	stopRude := globex(false)
	rude := acme()
	rSent, rRefused := stopRude()
	again := acme()

	qs, as := bench.Summarize(quiet), bench.Summarize(again)
	base := (qs.P50 + as.P50) / 2
	var b strings.Builder
	fmt.Fprintf(&b, "\n## One tenant at its quota, another signing\n\n")
	fmt.Fprintf(&b, "`KQ_BENCH=1 go test -count=1 -run TestBenchTenantQuotaIsolation -v -timeout 30m ./node/`: 3 nodes\n"+
		"(simulator TPM), an Ed25519 key per tenant; acme's signer signs %d requests one at a time per phase,\n"+
		"while six clients of globex sign against its quotas (`sign_per_second: 2, sessions: 2`), run by the same\n"+
		"test process on the same 2 cores as the nodes. Polite clients wait the RetryInfo delay after a refusal\n"+
		"(%d requests, %d refused); rude ones ask again at once (%d requests, %d refused).\n"+
		"Load average at the end: %s.\n\n", runs, pSent, pRefused, rSent, rRefused, loadAverage())
	b.WriteString("| acme sign | p50 / p99 | p50 ÷ quiet (mean of both quiet phases) | target |\n| --- | --- | --- | --- |\n")
	row := func(name string, d []time.Duration, target string) {
		st := bench.Summarize(d)
		fmt.Fprintf(&b, "| %s | %s / %s | ×%.2f | %s |\n", name, bench.Millis(st.P50), bench.Millis(bench.Percentile(d, 0.99)),
			float64(st.P50)/float64(base), target)
	}
	row("quiet", quiet, "")
	row("globex at its quota, polite clients", polite, "≤ ×1.5")
	row("globex flooding, rude clients", rude, "measured")
	row("quiet again", again, "")
	writeBenchReport(t, b.String())
}
