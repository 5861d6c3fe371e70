package remote

import (
	"context"
	"regexp"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// WithRetryHint adds the request id to errors after which the request may
// still complete, so the operator can retry it without creating a duplicate.
func WithRetryHint(err error, requestID string) error {
	s, ok := status.FromError(err)
	if !ok || !outcomeUnknown(s.Code()) {
		return err
	}
	return status.Errorf(s.Code(), "%s (the request may still complete; retry with --request-id %s)", s.Message(), requestID)
}

// WithIssueHint is WithRetryHint for `kq handle issue`: a retry cannot show
// a token again, so it serves only to name the handle that may have been
// issued, for revoking it.
func WithIssueHint(err error, requestID string) error {
	s, ok := status.FromError(err)
	if !ok || !outcomeUnknown(s.Code()) {
		return err
	}
	return status.Errorf(s.Code(), "%s (a handle may have been issued; repeat with --request-id %s to learn its id and revoke it)", s.Message(), requestID)
}

// outcomeUnknown reports whether a request that failed with code may
// still have been carried out.
func outcomeUnknown(code codes.Code) bool {
	switch code {
	case codes.DeadlineExceeded, codes.Unavailable, codes.Canceled, codes.Unknown, codes.Aborted:
		return true
	}
	return false
}

// preParamsNotReady finds the member the cluster names when an ECDSA key
// operation needs pre-params it does not have yet.
var preParamsNotReady = regexp.MustCompile(`pre-parameters not ready on ([A-Za-z0-9_.-]+)`)

// Explain adds what to do next to an error the operator can resolve by
// waiting: pre-params still generating on a member (and for how long, as
// that member says).
func (c *Client) Explain(ctx context.Context, err error) error {
	s, ok := status.FromError(err)
	if !ok || s.Code() != codes.FailedPrecondition {
		return err
	}
	m := preParamsNotReady.FindStringSubmatch(s.Message())
	if m == nil {
		return err
	}
	id, state := m[1], "not ready"
	if n, ok := c.cluster.Node(id); ok {
		if r, err := c.NodeStatus(ctx, n, 2*time.Second); err != nil {
			state = "not ready, and the node does not answer"
		} else if p := r.GetPreparams(); p != "" {
			state = "still " + p
		}
	}
	return status.Errorf(s.Code(), "%s: pre-params %s on %s: retry, or `kq status --wait` until they are ready", s.Message(), state, id)
}
