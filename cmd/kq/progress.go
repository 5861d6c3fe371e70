package main

import (
	"context"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/cmd/internal/progress"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/remote"
)

// heartbeat is how often a long operation says it is still running when
// stderr is not a terminal.
const heartbeat = 10 * time.Second

// longOp is a call that runs a long operation (keygen, refresh, reshare):
// what its progress line says, and what to ask the cluster for the time it
// usually takes.
type longOp struct {
	label     string
	operation string         // "keygen" or "refresh", as Status's estimates name them
	algorithm kqpb.Algorithm // unset: the algorithm of key
	key       string
}

// estimateWait bounds the calls that look up an estimate: the bar is a
// nicety, never a reason to delay the operation.
const estimateWait = 2 * time.Second

// estimate returns how long op usually takes on the node that answers
// Status (the median of its recent runs), or 0 when it does not know: the
// progress line then shows a spinner and the time spent.
func estimate(ctx context.Context, c *remote.Client, op *longOp) time.Duration {
	ctx, cancel := context.WithTimeout(ctx, estimateWait)
	defer cancel()
	alg := op.algorithm
	if alg == kqpb.Algorithm_ALGORITHM_UNSPECIFIED {
		k, err := kqpb.NewKeyServiceClient(c.Stubs(c.API())).GetKey(ctx, &kqpb.GetKeyRequest{Name: op.key})
		if err != nil {
			return 0
		}
		alg = k.Algorithm
	}
	st, err := kqpb.NewOperatorServiceClient(c.Stubs(c.API())).Status(ctx, &kqpb.StatusRequest{})
	if err != nil {
		return 0
	}
	return estimateOf(st.Estimates, op.operation, alg)
}

// estimateOf picks operation's estimate for alg.
func estimateOf(ests []*kqpb.OperationEstimate, operation string, alg kqpb.Algorithm) time.Duration {
	for _, e := range ests {
		if e.Operation == operation && e.Algorithm == alg && e.Seconds > 0 {
			return time.Duration(e.Seconds * float64(time.Second)).Round(time.Second)
		}
	}
	return 0
}

// withProgress runs fn while stderr shows it: with a known total, a bar
// with the time left; without (total 0), a spinner and the time spent;
// redrawn in place in a terminal and cleared before withProgress returns,
// so what the caller prints next starts clean; elsewhere a "kq: LABEL: 10s"
// line every heartbeat.
func (o *options) withProgress(label string, total time.Duration, fn func() error) error {
	p := progress.Start(o.stderr, o.stderrTTY, "kq: "+label, total, heartbeat)
	defer p.Stop()
	return fn()
}
