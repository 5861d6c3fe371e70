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
// traffic (a key generation, a refill) may still commit while the views
// are read one node after another, so views are compared only from a
// round in which no node applied anything between the first index read
// and the last: a difference then is a divergence, not a race with the
// check. It waits up to timeout for such a round; a cluster that never
// gets there is inconclusive. A key's view includes its primary and every
// version's state and public key.
func Converged(ctx context.Context, c *cluster.Cluster, timeout time.Duration) Check {
	chk := Check{Name: "converged", Verdict: Valid, Checked: len(c.IDs())}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		before, err := agreedIndex(ctx, c)
		if err == nil {
			views, err := keyViews(ctx, c)
			if err != nil {
				chk.fail(Inconclusive, "%v", err)
				return chk
			}
			after, err := agreedIndex(ctx, c)
			if err == nil && after == before {
				first := c.IDs()[0]
				for _, id := range c.IDs() {
					if views[id] != views[first] {
						chk.fail(Invalid, "at applied index %d, %s lists %s, %s lists %s", before, first, views[first], id, views[id])
					}
				}
				return chk
			}
			last = fmt.Sprintf("the cluster applied entries while the views were read (index %d, then %v)", before, err)
			if err == nil {
				last = fmt.Sprintf("the cluster applied entries while the views were read (index %d, then %d)", before, after)
			}
		} else {
			last = err.Error()
		}
		if ctx.Err() != nil {
			chk.fail(Inconclusive, "no quiet moment to compare the nodes within %s: %s", timeout, last)
			return chk
		}
		time.Sleep(200 * time.Millisecond)
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
