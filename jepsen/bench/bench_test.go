package bench_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/bench"
)

func ms(xs ...int) []time.Duration {
	out := make([]time.Duration, len(xs))
	for i, x := range xs {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestSummarizeNearestRank(t *testing.T) {
	// 1..20 ms shuffled: nearest-rank p50 is the 10th value, p90 the 18th.
	in := ms(7, 3, 20, 1, 15, 9, 12, 2, 18, 5, 11, 4, 19, 6, 14, 8, 17, 10, 13, 16)
	orig := slices.Clone(in)
	s := bench.Summarize(in)
	want := bench.Stats{N: 20, P50: 10 * time.Millisecond, P90: 18 * time.Millisecond,
		Max: 20 * time.Millisecond, Mean: 10500 * time.Microsecond}
	if s != want {
		t.Fatalf("Summarize = %+v, want %+v", s, want)
	}
	if !slices.Equal(in, orig) {
		t.Fatal("Summarize reordered its input")
	}
}

func TestPercentileEdges(t *testing.T) {
	if got := bench.Percentile(nil, 0.5); got != 0 {
		t.Fatalf("empty: %v", got)
	}
	if (bench.Summarize(nil) != bench.Stats{}) {
		t.Fatal("Summarize(nil) is not the zero Stats")
	}
	one := ms(42)
	for _, p := range []float64{-1, 0, 0.5, 1, 2} {
		if got := bench.Percentile(one, p); got != 42*time.Millisecond {
			t.Fatalf("p=%v of one sample: %v", p, got)
		}
	}
	three := ms(30, 10, 20)
	if got := bench.Percentile(three, 0.5); got != 20*time.Millisecond {
		t.Fatalf("median of 3: %v", got)
	}
	if got := bench.Percentile(three, 0.9); got != 30*time.Millisecond {
		t.Fatalf("p90 of 3: %v", got)
	}
	if got := bench.Percentile(three, 0.01); got != 10*time.Millisecond {
		t.Fatalf("p1 of 3: %v", got)
	}
}

func TestRatio(t *testing.T) {
	if r := bench.Ratio(300*time.Millisecond, 100*time.Millisecond); r != 3 {
		t.Fatalf("ratio %v", r)
	}
	if r := bench.Ratio(time.Second, 0); r != 0 {
		t.Fatalf("ratio over zero %v", r)
	}
}

func TestRunStopsAtFirstError(t *testing.T) {
	boom := errors.New("boom")
	var calls []int
	got, err := bench.Run(context.Background(), 5, bench.Timed(func(_ context.Context, i int) error {
		calls = append(calls, i)
		if i == 2 {
			return boom
		}
		return nil
	}))
	if !errors.Is(err, boom) || len(got) != 2 || !slices.Equal(calls, []int{0, 1, 2}) {
		t.Fatalf("got %d samples, calls %v, err %v", len(got), calls, err)
	}
	if _, err := bench.Run(context.Background(), 0, nil); !errors.Is(err, bench.ErrNoRuns) {
		t.Fatalf("n=0: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := bench.Run(ctx, 1, bench.Timed(func(context.Context, int) error { return nil })); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
}

func TestTimedMeasuresTheCall(t *testing.T) {
	d, err := bench.Timed(func(context.Context, int) error {
		time.Sleep(20 * time.Millisecond)
		return nil
	})(context.Background(), 0)
	if err != nil || d < 20*time.Millisecond {
		t.Fatalf("Timed: %v, %v", d, err)
	}
}

func TestInterleaveRoundRobin(t *testing.T) {
	var order []string
	op := func(name string, d time.Duration) bench.Op {
		return func(_ context.Context, i int) (time.Duration, error) {
			order = append(order, fmt.Sprintf("%s%d", name, i))
			return d + time.Duration(i), nil
		}
	}
	got, err := bench.Interleave(context.Background(), 3, op("a", 100), op("b", 200))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a0", "b0", "a1", "b1", "a2", "b2"}; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	if len(got) != 2 || !slices.Equal(got[0], []time.Duration{100, 101, 102}) || !slices.Equal(got[1], []time.Duration{200, 201, 202}) {
		t.Fatalf("samples %v", got)
	}
}

// fakeKeys answers Sign with the digest reversed as the "signature".
type fakeKeys struct {
	kqpb.KeyServiceClient
	reqs []*kqpb.SignRequest
	fail int // run index that gets an error; -1 for none
}

func (f *fakeKeys) Sign(ctx context.Context, in *kqpb.SignRequest, _ ...grpc.CallOption) (*kqpb.SignResponse, error) {
	if _, ok := ctx.Deadline(); !ok {
		return nil, errors.New("no per-call deadline")
	}
	f.reqs = append(f.reqs, in)
	if len(f.reqs)-1 == f.fail {
		return nil, errors.New("unavailable")
	}
	sig := slices.Clone(in.Digest)
	slices.Reverse(sig)
	return &kqpb.SignResponse{Key: in.Key, Signature: sig}, nil
}

func reversed(msg, sig []byte) bool {
	r := slices.Clone(sig)
	slices.Reverse(r)
	return slices.Equal(msg, r)
}

func TestSignsSequentialAndChecked(t *testing.T) {
	f := &fakeKeys{fail: -1}
	cfg := bench.DefaultSignConfig("k", 4)
	cfg.Check = reversed
	got, err := bench.Signs(context.Background(), f, cfg)
	if err != nil || len(got) != 4 || len(f.reqs) != 4 {
		t.Fatalf("samples %d, requests %d, err %v", len(got), len(f.reqs), err)
	}
	seen := map[string]bool{}
	for i, r := range f.reqs {
		if r.Key != "k" || !slices.Equal(r.Digest, bench.Digest(i)) || len(r.Digest) != 32 {
			t.Fatalf("request %d: %+v", i, r)
		}
		seen[string(r.Digest)] = true
	}
	if len(seen) != 4 {
		t.Fatal("digests repeat across runs")
	}

	cfg.Check = func(msg, sig []byte) bool { return false }
	if _, err := bench.Signs(context.Background(), &fakeKeys{fail: -1}, cfg); !errors.Is(err, bench.ErrBadSignature) {
		t.Fatalf("bad signature: %v", err)
	}
	cfg.Check = reversed
	got, err = bench.Signs(context.Background(), &fakeKeys{fail: 2}, cfg)
	if err == nil || len(got) != 2 {
		t.Fatalf("failing run: %d samples, err %v", len(got), err)
	}
	slow := bench.DefaultSignConfig("k", 1)
	slow.Check = func(msg, sig []byte) bool { time.Sleep(100 * time.Millisecond); return true }
	op, err := bench.SignOp(&fakeKeys{fail: -1}, slow)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := op(context.Background(), 0); err != nil || d >= 100*time.Millisecond {
		t.Fatalf("SignOp timed its check: %v, %v", d, err)
	}
	if _, err := bench.Signs(context.Background(), f, bench.SignConfig{Key: "k", Runs: 1}); err == nil {
		t.Fatal("config without PerCall and Message accepted")
	}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	rows := []bench.Row{
		{Name: "raw", Stats: bench.Summarize(ms(290, 300, 310))},
		{Name: "cluster", Stats: bench.Summarize(ms(2, 3, 4)), Note: "x1.5"},
	}
	if err := bench.WriteTable(&b, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("want header, rule and 2 rows:\n%s", b.String())
	}
	if lines[2] != "| raw | 3 | 300 ms | 310 ms | 310 ms | 300 ms |  |" {
		t.Fatalf("row: %q", lines[2])
	}
	if lines[3] != "| cluster | 3 | 3.00 ms | 4.00 ms | 4.00 ms | 3.00 ms | x1.5 |" {
		t.Fatalf("row: %q", lines[3])
	}
}

func TestMillis(t *testing.T) {
	for d, want := range map[time.Duration]string{
		420 * time.Microsecond:   "0.42 ms",
		28500 * time.Microsecond: "28.5 ms",
		293 * time.Millisecond:   "293 ms",
		8412 * time.Millisecond:  "8412 ms",
	} {
		if got := bench.Millis(d); got != want {
			t.Fatalf("Millis(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestWriteEnv(t *testing.T) {
	var b strings.Builder
	e := bench.CaptureEnv("make bench")
	if e.NumCPU < 1 || e.GoVersion == "" {
		t.Fatalf("env %+v", e)
	}
	if err := bench.WriteEnv(&b, e); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"- date: ", "- CPUs (nproc): ", "- go: go", "- command: `make bench`"} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("missing %q in\n%s", want, b.String())
		}
	}
}
