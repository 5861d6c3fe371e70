package nemesis

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// Clock skews one node's wall clock through its fault endpoint: a bump of
// plus or minus minutes, a strobe (the clock flips back and forth), or a
// rate drift. Heal resets the clock.
type Clock struct{}

// Name implements Failpoint.
func (Clock) Name() string { return "clock" }

// Available implements Failpoint: every node needs its fault endpoint.
func (Clock) Available(c *cluster.Cluster) bool {
	for _, id := range c.IDs() {
		if c.AdminAddr(id) == "" {
			return false
		}
	}
	return true
}

// Inject implements Failpoint.
func (Clock) Inject(ctx context.Context, c *cluster.Cluster, rnd *rand.Rand, hold time.Duration) (string, error) {
	id, _ := target(ctx, c, rnd)
	admin := c.AdminAddr(id)
	var path, what string
	switch rnd.IntN(3) {
	case 0:
		d := time.Duration(1+rnd.IntN(10)) * time.Minute
		if rnd.IntN(2) == 0 {
			d = -d
		}
		path, what = "/clock/bump?by="+d.String(), fmt.Sprintf("bump %s by %s", id, d)
	case 1:
		delta := time.Duration(200+rnd.IntN(1800)) * time.Millisecond
		path = fmt.Sprintf("/clock/strobe?delta=%s&period=10ms&for=%s", delta, hold)
		what = fmt.Sprintf("strobe %s by %s every 10ms", id, delta)
	case 2:
		rate := []string{"0.5", "0.9", "1.1", "2"}[rnd.IntN(4)]
		path, what = "/clock/rate?rate="+rate, fmt.Sprintf("rate of %s ×%s", id, rate)
	}
	if err := clockCall(ctx, admin, path); err != nil {
		return what, err
	}
	sleep(ctx, hold)
	return what, clockCall(context.WithoutCancel(ctx), admin, "/clock/reset")
}

// clockCall POSTs to a node's fault endpoint.
func clockCall(ctx context.Context, admin, path string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+admin+path, nil)
	if err != nil {
		return fmt.Errorf("nemesis: clock %s: %w", path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("nemesis: clock %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("nemesis: clock %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
