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

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/node/nodetest"
)

// TestAttemptsAbandonAMemberThatIsGone stops a follower while eight
// clients sign, with a sign.timeout of two minutes. The attempts in flight
// whose committee holds the member must be abandoned within about a second
// of it becoming unreachable and retried without it, not waited out for two
// minutes: each sign here has 30 s. The audit trail must show an attempt retried for the
// unreachable member, so the test cannot pass without exercising the
// abandonment.
// unreachableGraceForTest is node's unreachableGrace: how long a member
// must stay unreachable before its attempts are abandoned.
const unreachableGraceForTest = time.Second

func TestAttemptsAbandonAMemberThatIsGone(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{SignTimeout: 2 * time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	leader, cl := leaderClient(ctx, t, c)
	createKey(ctx, t, cl, "gone", kqpb.Algorithm_ED25519)
	sign := func(i int) {
		d := sha256.Sum256([]byte(fmt.Sprintf("member gone %d", i)))
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		defer scancel()
		retryUnavailable(sctx, t, fmt.Sprintf("sign %d", i), func() error {
			_, err := cl.Sign(sctx, &kqpb.SignRequest{Key: "gone", Digest: d[:], RequestId: fmt.Sprintf("gone-%d", i)})
			return err
		})
	}
	sign(0)
	var gone string
	for _, id := range c.IDs() {
		if id != leader {
			gone = id
			break
		}
	}
	// Eight clients sign back to back until the member has been gone for
	// a few supervisor periods, so attempts are in flight when it stops
	// (two of every three committees hold it) however fast a signature
	// is: a fixed number of signs can all finish before the stop.
	var stoppedAt atomic.Int64
	goneLongEnough := func() bool {
		at := stoppedAt.Load()
		return at != 0 && time.Since(time.Unix(0, at)) > 3*unreachableGraceForTest
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !goneLongEnough() && ctx.Err() == nil; i++ {
				sign(100000*(w+1) + i)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	c.StopNode(gone)
	stoppedAt.Store(time.Now().UnixNano())
	wg.Wait()
	au, err := c.Audit(leader)
	if err != nil {
		t.Fatal(err)
	}
	r, err := au.Query(ctx, &kqpb.AuditQueryRequest{Key: "gone", Op: "sign_retry"})
	if err != nil {
		t.Fatal(err)
	}
	abandoned := 0
	for _, rec := range r.Records {
		t.Logf("attempt retried: %s", rec.Reason)
		if strings.Contains(rec.Reason, gone+" unreachable") {
			abandoned++
		}
	}
	if abandoned == 0 {
		t.Fatalf("no attempt was abandoned for %s being unreachable (%d retries): the signs never needed it", gone, len(r.Records))
	}
}
