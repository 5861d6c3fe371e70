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
// the keys (ListKeys through it) is the same. It waits up to timeout for
// the indexes; a cluster that never gets there is inconclusive. A key's
// view includes its primary and every version's state and public key.
func Converged(ctx context.Context, c *cluster.Cluster, timeout time.Duration) Check {
	chk := Check{Name: "converged", Verdict: Valid, Checked: len(c.IDs())}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		idx, err := appliedIndexes(ctx, c)
		if err == nil && len(slices.Compact(slices.Sorted(maps.Values(idx)))) == 1 {
			break
		}
		last = fmt.Sprint(idx, err)
		if ctx.Err() != nil {
			chk.fail(Inconclusive, "applied indexes did not converge within %s: %s", timeout, last)
			return chk
		}
		time.Sleep(200 * time.Millisecond)
	}
	views := map[string]string{}
	for _, id := range c.IDs() {
		// A healed follower may still be reconnecting to the leader it
		// forwards to: retry until the deadline.
		for {
			v, err := keyView(ctx, c, id)
			if err == nil {
				views[id] = v
				break
			}
			if ctx.Err() != nil {
				chk.fail(Inconclusive, "list keys via %s: %v", id, err)
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	for _, id := range c.IDs() {
		if v, ok := views[id]; ok && v != views[c.IDs()[0]] {
			chk.fail(Invalid, "%s lists %s, %s lists %s", c.IDs()[0], views[c.IDs()[0]], id, v)
		}
	}
	return chk
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
