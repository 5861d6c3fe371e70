package checker

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// Converged checks that, after healing, every node applies the same log:
// their applied indexes reach one value, and then each node's own view of
// the keys (ListKeys through it) is the same. Work that outlives the
// traffic (a key generation, pool refills) may still commit while the
// views are read one node after another, so a difference is read again
// until the views agree or the deadline passes: a divergence persists, a
// race with the check does not. It waits up to timeout; indexes that
// never meet are inconclusive, views that never agree invalid. A key's
// view includes its primary and every version's state and public key.
func Converged(ctx context.Context, c *cluster.Cluster, timeout time.Duration) Check {
	chk := Check{Name: "converged", Verdict: Valid, Checked: len(c.IDs())}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// lastErr is why the last round compared nothing; diff, the last
	// difference between views read at one applied index. A difference
	// stands until a round finds the views equal.
	var lastErr, diff string
	for {
		if at, err := agreedIndex(ctx, c); err != nil {
			lastErr = err.Error()
		} else if views, err := keyViews(ctx, c); err != nil {
			lastErr = err.Error()
		} else {
			first := c.IDs()[0]
			var diffs []string
			for _, id := range c.IDs() {
				if views[id] != views[first] {
					diffs = append(diffs, fmt.Sprintf("%s lists %s, %s lists %s", first, views[first], id, views[id]))
				}
			}
			if len(diffs) == 0 {
				return chk
			}
			diff = fmt.Sprintf("at applied index %d, %s", at, strings.Join(diffs, "; "))
		}
		if ctx.Err() != nil {
			if diff != "" {
				chk.fail(Invalid, "the views never agreed within %s: %s", timeout, diff)
			} else {
				chk.fail(Inconclusive, "the nodes did not converge within %s: %s", timeout, lastErr)
			}
			return chk
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// agreedIndex returns the applied index every node reports, or an error
// when they differ or one does not answer.
func agreedIndex(ctx context.Context, c *cluster.Cluster) (uint64, error) {
	idx, err := appliedIndexes(ctx, c)
	if err != nil {
		return 0, fmt.Errorf("applied indexes %v: %w", idx, err)
	}
	if vs := slices.Compact(slices.Sorted(maps.Values(idx))); len(vs) != 1 {
		return 0, fmt.Errorf("applied indexes differ: %v", idx)
	}
	return idx[c.IDs()[0]], nil
}

// keyViews reads every node's view of the keys. A healed follower may
// still be reconnecting to the leader it forwards to: each read is retried
// until the context ends.
func keyViews(ctx context.Context, c *cluster.Cluster) (map[string]string, error) {
	views := map[string]string{}
	for _, id := range c.IDs() {
		for {
			v, err := keyView(ctx, c, id)
			if err == nil {
				views[id] = v
				break
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("list keys via %s: %w", id, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return views, nil
}

func appliedIndexes(ctx context.Context, c *cluster.Cluster) (map[string]uint64, error) {
	out := map[string]uint64{}
	for _, id := range c.IDs() {
		st, err := c.Status(ctx, id)
		if err != nil {
			return out, err
		}
		out[id] = st.AppliedIndex
	}
	return out, nil
}

func keyView(ctx context.Context, c *cluster.Cluster, id string) (string, error) {
	kc, err := c.Client(id)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := kc.ListKeys(ctx, &kqpb.ListKeysRequest{})
	if err != nil {
		return "", err
	}
	var parts []string
	for _, k := range resp.Keys {
		p := fmt.Sprintf("%s:%s:%x:p%d", k.Name, k.State, k.PublicKey, k.PrimaryVersion)
		for _, v := range k.Versions {
			p += fmt.Sprintf(":v%d/%s/%x", v.Version, v.State, v.PublicKey)
		}
		parts = append(parts, p)
	}
	slices.Sort(parts)
	sum := sha256.Sum256([]byte(strings.Join(parts, ",")))
	return fmt.Sprintf("%d keys (digest %x)", len(parts), sum[:6]), nil
}
