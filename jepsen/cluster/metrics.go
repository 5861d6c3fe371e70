package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// maxScrapeBytes caps one scrape; a node's exposition is tens of KiB.
const maxScrapeBytes = 8 << 20

// MetricsAddr is node id's Prometheus endpoint, "" unless Options.Metrics.
func (c *Cluster) MetricsAddr(id string) string { return c.nodes[id].metrics }

// Scrape fetches node id's metrics in the Prometheus text format.
func (c *Cluster) Scrape(ctx context.Context, id string) (string, error) {
	b, err := c.getMetrics(ctx, id, "/metrics")
	return string(b), err
}

// CPUProfile records node id's CPU profile for d (pprof format); the node
// must run with Options.CPUProfile.
func (c *Cluster) CPUProfile(ctx context.Context, id string, d time.Duration) ([]byte, error) {
	return c.getMetrics(ctx, id, fmt.Sprintf("/debug/pprof/profile?seconds=%d", max(1, int(d.Seconds()))))
}

// getMetrics GETs path from node id's metrics listener.
func (c *Cluster) getMetrics(ctx context.Context, id, path string) ([]byte, error) {
	a := c.MetricsAddr(id)
	if a == "" {
		return nil, fmt.Errorf("cluster: %s has no metrics endpoint (Options.Metrics is off)", id)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a+path, nil)
	if err != nil {
		return nil, fmt.Errorf("cluster: %s %s: %w", id, path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cluster: %s %s: %w", id, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxScrapeBytes))
	if err != nil {
		return nil, fmt.Errorf("cluster: %s %s: %w", id, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cluster: %s %s: HTTP %d: %.200s", id, path, resp.StatusCode, body)
	}
	return body, nil
}
