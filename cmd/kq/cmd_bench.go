package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/client"
	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/cmd/internal/progress"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/clusterstatus"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/measure"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/remote"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
	"github.com/keyquorum/keyquorum/node/config"
)

type benchOptions struct {
	key         string
	concurrency int
	duration    time.Duration
	requests    int
	noPresign   bool
	msgLen      int
	purpose     string
}

// The bench's handle outlives the run by benchHandleMargin, so requests in
// flight at the end are not denied, within the longest ttl nodes allow by
// default.
const (
	benchHandleMargin = time.Minute
	benchHandleMaxTTL = 24 * time.Hour
)

// benchHandleTTL is the life of the one handle a run signs with.
func benchHandleTTL(run time.Duration) time.Duration {
	return min(run+benchHandleMargin, benchHandleMaxTTL)
}

func newBenchCmd(opts *options) *cobra.Command {
	b := benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench --key NAME",
		Short: "Measure signing throughput and latency against the running cluster",
		Long: "Sign random digests with --concurrency clients for --duration (or until\n" +
			"--requests are done), talking to the leader, all with one handle issued\n" +
			"before the run and revoked after it. Prints a progress line each second,\n" +
			"then throughput, latency percentiles and the CPU time all kqd processes\n" +
			"of this configuration spent per signature.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if b.concurrency < 1 || b.concurrency > 1024 {
				return usagef("--concurrency %d: want 1 to 1024", b.concurrency)
			}
			if b.duration <= 0 {
				return usagef("--duration must be positive")
			}
			return runBench(cmd.Context(), opts, b)
		},
	}
	f := cmd.Flags()
	f.StringVar(&b.key, "key", "", "key to sign with (required)")
	f.IntVar(&b.concurrency, "concurrency", 1, "requests in flight")
	f.DurationVar(&b.duration, "duration", 10*time.Second, "how long to run")
	f.IntVar(&b.requests, "requests", 0, "stop after this many requests (0: run for --duration)")
	f.BoolVar(&b.noPresign, "no-presign", false, "skip the presignature pool: every request runs the full protocol")
	f.IntVar(&b.msgLen, "message-bytes", 32, "Ed25519 message length")
	f.StringVar(&b.purpose, "purpose", defaultPurpose, "purpose of the handle the run signs with")
	cmd.MarkFlagRequired("key")
	return cmd
}

func runBench(ctx context.Context, opts *options, b benchOptions) error {
	c, err := opts.client()
	if err != nil {
		return err
	}
	target, err := leaderTarget(ctx, c)
	if err != nil {
		return err
	}
	// The run's own client, pinned to the target and without a call
	// timeout of its own: the run's context bounds each request.
	nc, err := c.NewClient([]config.NodeConfig{target}, benchHandleMaxTTL)
	if err != nil {
		return err
	}
	defer nc.Close()
	ks := kqpb.NewKeyServiceClient(c.Stubs(nc))
	k, err := ks.GetKey(ctx, &kqpb.GetKeyRequest{Name: b.key})
	if err != nil {
		return err
	}
	benchHandle, err := nc.IssueHandle(ctx, client.HandleRequest{Key: b.key, Purpose: b.purpose, TTL: benchHandleTTL(b.duration)})
	if err != nil {
		s := status.Convert(c.Plain(err))
		return status.Errorf(s.Code(), "issue the bench handle: %s", s.Message())
	}
	tok := benchHandle.Token
	defer revokeBenchHandle(ks, opts, tok.ID())
	newMsg := func() []byte {
		m := make([]byte, b.msgLen)
		_, _ = rand.Read(m)
		if k.GetAlgorithm() == kqpb.Algorithm_ECDSA_SECP256K1 {
			d := sha256.Sum256(m)
			return d[:]
		}
		return m
	}

	cpu0, _ := measure.NodeCPU(opts.configPath)
	start := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, b.duration)
	defer cancel()
	var issued, ok, failed, presigned atomic.Uint64
	var firstErr atomic.Value
	hists := make([]*measure.Histogram, b.concurrency)
	var wg sync.WaitGroup
	for w := range b.concurrency {
		hists[w] = measure.NewHistogram()
		wg.Go(func() {
			for runCtx.Err() == nil {
				if b.requests > 0 && issued.Add(1) > uint64(b.requests) {
					return
				}
				t0 := time.Now()
				r, err := signOnce(runCtx, ks, b.key, tok.Bearer(), newMsg(), b.noPresign)
				if runCtx.Err() != nil && err != nil {
					return // cut off by the deadline: neither success nor failure
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, render.ErrorText(err))
					continue
				}
				hists[w].Record(time.Since(t0))
				ok.Add(1)
				if r.GetPresigned() {
					presigned.Add(1)
				}
			}
		})
	}
	stop := make(chan struct{})
	go benchProgress(opts, stop, start, b.duration, &ok, &failed)
	wg.Wait()
	close(stop)
	elapsed := time.Since(start)
	cpu1, procs := measure.NodeCPU(opts.configPath)

	h := measure.NewHistogram()
	for _, x := range hists {
		h.Merge(x)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	v := render.BenchView{Key: b.key, Algorithm: k.GetAlgorithm().Name(), Presign: !b.noPresign, Concurrency: b.concurrency,
		Seconds: elapsed.Seconds(), OK: ok.Load(), Errors: failed.Load(), Presigned: presigned.Load(),
		Throughput: float64(ok.Load()) / elapsed.Seconds(),
		LatencyMS: map[string]float64{"p50": ms(h.Quantile(0.5)), "p90": ms(h.Quantile(0.9)), "p99": ms(h.Quantile(0.99)),
			"p99.9": ms(h.Quantile(0.999)), "max": ms(h.Max()), "mean": ms(h.Mean())},
		NodeCPUSeconds: (cpu1 - cpu0).Seconds(), NodeProcesses: procs}
	if v.OK > 0 {
		v.CPUPerSig = v.NodeCPUSeconds / float64(v.OK)
	}
	if e, _ := firstErr.Load().(string); e != "" {
		v.FirstError = e
	}
	return opts.printer().Print(v)
}

func signOnce(ctx context.Context, ks kqpb.KeyServiceClient, key, handle string, msg []byte, full bool) (*kqpb.SignResponse, error) {
	return ks.Sign(ctx, &kqpb.SignRequest{Key: key, Handle: handle, Digest: msg, RequestId: newRequestID(), FullProtocol: full})
}

// revokeBenchHandle ends the run's handle rather than leave a live
// credential until it expires. It runs after the run's context may have
// ended, so it has its own short deadline; a failure is only reported.
func revokeBenchHandle(ks kqpb.KeyServiceClient, opts *options, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), statusWait)
	defer cancel()
	if _, err := ks.RevokeHandle(ctx, &kqpb.RevokeHandleRequest{Handle: id, RequestId: newRequestID()}); err != nil {
		fmt.Fprintf(opts.stderr, "kq: revoke the bench handle %s: %s (it expires by itself)\n", id, render.ErrorText(err))
	}
}

// benchProgress shows the run on stderr until stop closes: in a terminal a bar
// with the time left and the counts so far, redrawn in place; elsewhere a
// line each second.
func benchProgress(opts *options, stop <-chan struct{}, start time.Time, total time.Duration, ok, failed *atomic.Uint64) {
	stats := func() string {
		el := time.Since(start)
		return fmt.Sprintf("%d ok  %d errors  %.1f/s", ok.Load(), failed.Load(), float64(ok.Load())/el.Seconds())
	}
	if opts.stderrTTY {
		p := progress.Start(opts.stderr, true, "bench", total, 0)
		defer p.Stop()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			p.Note(stats())
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			fmt.Fprintf(opts.stderr, "%5.0fs  %s\n", time.Since(start).Seconds(), stats())
		}
	}
}

// leaderTarget returns the node to benchmark against: --node when given,
// else the leader, so no request pays a forwarding hop.
func leaderTarget(ctx context.Context, c *remote.Client) (config.NodeConfig, error) {
	if c.Pinned() {
		return c.Targets()[0], nil
	}
	v := clusterstatus.Gather(ctx, c, statusWait)
	for _, n := range c.Cluster().Nodes {
		if n.ID == v.Leader {
			return n, nil
		}
	}
	return config.NodeConfig{}, fmt.Errorf("no leader: %s", clusterstatus.NotReady(v))
}
