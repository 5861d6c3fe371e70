package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// maxScrapeBytes caps one scrape; a node's exposition is tens of KiB.
const maxScrapeBytes = 8 << 20

// MetricsAddr is node id's Prometheus endpoint, "" unless Options.Metrics.
func (c *Cluster) MetricsAddr(id string) string { return c.nodes[id].metrics }

// Scrape fetches node id's metrics in the Prometheus text format.
func (c *Cluster) Scrape(ctx context.Context, id string) (string, error) {
	a := c.MetricsAddr(id)
	if a == "" {
		return "", fmt.Errorf("cluster: %s has no metrics endpoint (Options.Metrics is off)", id)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a+"/metrics", nil)
	if err != nil {
		return "", fmt.Errorf("cluster: scrape %s: %w", id, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("cluster: scrape %s: %w", id, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxScrapeBytes))
	if err != nil {
		return "", fmt.Errorf("cluster: scrape %s: %w", id, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("cluster: scrape %s: HTTP %d: %.200s", id, resp.StatusCode, body)
	}
	return string(body), nil
}
