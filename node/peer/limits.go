package peer

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/keyquorum/keyquorum/node/pki"
	"github.com/keyquorum/keyquorum/tss"
)

// Limits of the peer port. Only members call it, but a member may be the
// one misbehaving: what one connection can hold is bounded, a connection
// that only pings or idles is closed, and every call ends.
const (
	// peerMaxStreams bounds concurrent streams per connection. A member
	// keeps one Exchange stream to each peer plus short unary calls
	// (reports, announcements, clock probes, FROST shares); a client
	// above the limit waits for a stream to end instead of opening more.
	peerMaxStreams = 128
	// peerPingMinTime is the shortest ping interval a caller may use;
	// a caller pinging more often is disconnected (too_many_pings).
	// Pings without an open stream are refused as well: they only keep
	// an idle connection alive.
	peerPingMinTime = 10 * time.Second
	// peerKeepaliveTime and peerKeepaliveTimeout: the server pings a
	// connection quiet this long and closes it if no answer comes, so a
	// vanished member does not hold streams open.
	peerKeepaliveTime    = 30 * time.Second
	peerKeepaliveTimeout = 10 * time.Second
	// peerIdleTimeout closes connections without calls for this long.
	peerIdleTimeout = 5 * time.Minute
	// peerHandshakeTimeout bounds the TLS handshake of a new connection.
	peerHandshakeTimeout = 10 * time.Second
	// peerCallTimeout bounds every unary peer call: a report waits for
	// one raft commit, a FROST share for one apply (frostShareWait).
	peerCallTimeout = 30 * time.Second
	// ExchangeIdleTimeout ends an Exchange stream that carried nothing for
	// this long. The sender opens a new one with its next message; its
	// resend window (resendWindow) is shorter, so nothing is lost.
	ExchangeIdleTimeout = 2 * time.Minute
	// MaxMessageBytes bounds a message on the peer port, either way:
	// keygen round messages are ~150 KiB.
	MaxMessageBytes = 4 << 20
)

// NewServer returns the PeerService server: member certificates only
// (isMember names the members), checked in the TLS handshake, and the
// limits above.
func NewServer(isMember func(string) bool, serverTLS *tls.Config) *grpc.Server {
	creds := credentials.NewTLS(memberTLS(isMember, serverTLS))
	return grpc.NewServer(grpc.Creds(creds),
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxConcurrentStreams(peerMaxStreams),
		grpc.ConnectionTimeout(peerHandshakeTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: peerPingMinTime, PermitWithoutStream: false}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: peerKeepaliveTime, Timeout: peerKeepaliveTimeout, MaxConnectionIdle: peerIdleTimeout}),
		grpc.ChainUnaryInterceptor(peerDeadline))
}

// memberTLS is the peer port's server TLS: the handshake itself fails for
// any certificate that is not a configured member's node certificate, so a
// client certificate from the same CA never reaches a handler (which check
// again, peerIdentity, and also refuse the node's own certificate).
func memberTLS(isMember func(string) bool, server *tls.Config) *tls.Config {
	t := server.Clone()
	t.VerifyConnection = func(cs tls.ConnectionState) error {
		id, err := pki.ConnIdentity(cs)
		if err != nil {
			return err
		}
		if id.Kind != pki.KindNode || !isMember(id.Name) {
			return fmt.Errorf("node: %s may not call the peer port: not a member", id)
		}
		return nil
	}
	return t
}

// peerDeadline bounds every unary peer call by peerCallTimeout, whatever
// deadline (or none) the caller sent.
func peerDeadline(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, peerCallTimeout)
	defer cancel()
	return handler(ctx, req)
}

// PendingDrops exports the engine's count of round messages dropped
// because their sender was over its share of the buffer for sessions not
// started yet. The label is the sender, an authenticated member, so the
// series are bounded by the cluster's size.
type PendingDrops struct {
	engine *tss.Engine
	desc   *prometheus.Desc
}

// NewPendingDrops returns the collector of e's drops.
func NewPendingDrops(e *tss.Engine) *PendingDrops {
	return &PendingDrops{engine: e, desc: prometheus.NewDesc("keyquorum_pending_dropped_total",
		"Round messages for sessions not started yet dropped because their sender was over its share of the buffer.",
		[]string{"peer"}, nil)}
}

// Describe implements prometheus.Collector.
func (p *PendingDrops) Describe(ch chan<- *prometheus.Desc) { ch <- p.desc }

// Collect implements prometheus.Collector.
func (p *PendingDrops) Collect(ch chan<- prometheus.Metric) {
	for peer, n := range p.engine.PendingDropped() {
		ch <- prometheus.MustNewConstMetric(p.desc, prometheus.CounterValue, float64(n), peer)
	}
}
