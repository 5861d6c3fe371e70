// Package peer carries what members send each other over the peer port:
// round messages, delivered at least once over one stream to each other
// member (Links), the client connections a member reaches the others
// through, and the limits that port holds every caller to (NewServer).
package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/tss"
)

// peerQueueLen bounds the round messages waiting for one peer. A full queue
// fails the session that tried to send; the leader retries the request
// under another committee.
const peerQueueLen = 4096

// ErrBusy is returned when a peer's outbound queue is full.
var ErrBusy = errors.New("node: peer queue full")

// Faults are the deliberate faults of the links (kqd_bugs builds; the
// zero value in any other).
type Faults struct {
	// DropMessage loses the first round message of every session to each
	// peer: written down as sent, never written (the drop-message bug).
	DropMessage bool
	// Outbound, when set, returns what this member sends to `to` in place
	// of m (the malicious-member bug).
	Outbound func(m tss.Message, to string) ([]tss.Message, error)
	// Flood writes junk round messages to every peer (the flood-messages
	// bug; its writer is compiled into kqd_bugs builds only).
	Flood bool
}

// Links implements tss.Transport over one PeerService.Exchange stream to
// each other member, and keeps the gRPC connections the node uses to reach
// other members (round messages, proposals, forwarded client calls).
type Links struct {
	self  config.NodeConfig
	creds credentials.TransportCredentials
	log   *slog.Logger
	// peers are the links by member id; a member added later gets one
	// through Ensure, so reads take peersMu.
	peersMu sync.RWMutex
	peers   map[string]*peerLink
	// protocol is the cluster's active protocol version, written on every
	// round message.
	protocol func() uint32
	faults   Faults
	ctx      context.Context
	stop     context.CancelFunc

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

type peerLink struct {
	id, addr string
	queue    chan *kqpb.RoundMessage
	// sent holds the messages written in the last resendWindow that the
	// peer has not acknowledged, oldest first: they are written again on
	// the next stream after a break (a message gRPC accepted may still die
	// with the connection) and on the same stream once retransmitAfter
	// passes without an ack (the receiver could not hold it yet). Only the
	// peer's pump goroutine touches it, and seq.
	sent      []sentMessage
	sentBytes int
	seq       uint64
	// dropped records the sessions whose first message the drop-message
	// bug swallowed (kqd_bugs builds only).
	dropped map[string]bool
}

type sentMessage struct {
	at      time.Time // first written
	written time.Time // last written
	m       *kqpb.RoundMessage
}

// Delivery is at least once while a session can still use a message:
// every message carries a per-link seq, the receiver acknowledges each one
// it handed to its engine, and the sender writes what stays unacknowledged
// again, on a new stream after a break and every retransmitAfter on the
// same one. Receivers drop duplicates per (session, type, sender), so two
// live members can never both wait for a message the other believes it
// sent. The window outlasts a signing attempt (sign.timeout); the bounds
// keep a keygen burst from pinning memory.
const (
	resendWindow    = 30 * time.Second
	maxResend       = 1024
	maxResendBytes  = 16 << 20
	retransmitAfter = time.Second
	retransmitTick  = 250 * time.Millisecond
)

// remember records m as written and drops what fell out of the bounds.
func (p *peerLink) remember(now time.Time, m *kqpb.RoundMessage) {
	p.sent = append(p.sent, sentMessage{at: now, written: now, m: m})
	p.sentBytes += len(m.Payload)
	drop := 0
	for drop < len(p.sent) && (len(p.sent)-drop > maxResend || p.sentBytes > maxResendBytes || now.Sub(p.sent[drop].at) > resendWindow) {
		p.sentBytes -= len(p.sent[drop].m.Payload)
		drop++
	}
	if drop > 0 {
		p.sent = append(p.sent[:0:0], p.sent[drop:]...)
	}
}

// recent returns the unacknowledged messages written within resendWindow,
// to write again now, after a break.
func (p *peerLink) recent(now time.Time) []*kqpb.RoundMessage { return p.writeAgain(now, 0) }

// due returns the unacknowledged messages last written retransmitAfter
// ago or earlier, to write again now on the same stream.
func (p *peerLink) due(now time.Time) []*kqpb.RoundMessage {
	return p.writeAgain(now, retransmitAfter)
}

// writeAgain returns the unacknowledged messages within resendWindow that
// were last written at least quiet ago, and marks them written now.
func (p *peerLink) writeAgain(now time.Time, quiet time.Duration) []*kqpb.RoundMessage {
	var out []*kqpb.RoundMessage
	for i := range p.sent {
		if now.Sub(p.sent[i].at) <= resendWindow && now.Sub(p.sent[i].written) >= quiet {
			p.sent[i].written = now
			out = append(out, p.sent[i].m)
		}
	}
	return out
}

// ack forgets the message the peer acknowledged.
func (p *peerLink) ack(seq uint64) {
	for i := range p.sent {
		if p.sent[i].m.Seq == seq {
			p.sentBytes -= len(p.sent[i].m.Payload)
			p.sent = append(p.sent[:i], p.sent[i+1:]...)
			return
		}
	}
}

// lose reports whether the drop-message bug swallows m: the first message
// of each session on this link is remembered as written but never written.
func (p *peerLink) lose(f Faults, m *kqpb.RoundMessage) bool {
	if !f.DropMessage {
		return false
	}
	if p.dropped == nil || len(p.dropped) > 4096 {
		p.dropped = map[string]bool{}
	}
	if p.dropped[string(m.SessionId)] {
		return false
	}
	p.dropped[string(m.SessionId)] = true
	return true
}

var _ tss.Transport = (*Links)(nil)

// NewLinks returns the links of member self to the other members of c,
// dialled with creds; protocol gives the cluster's active protocol
// version, written on every round message.
func NewLinks(c *config.Cluster, self config.NodeConfig, creds credentials.TransportCredentials, protocol func() uint32, faults Faults, log *slog.Logger) *Links {
	ctx, stop := context.WithCancel(context.Background())
	l := &Links{self: self, creds: creds, faults: faults, log: log, peers: map[string]*peerLink{}, conns: map[string]*grpc.ClientConn{}, ctx: ctx, stop: stop,
		protocol: protocol}
	for _, m := range c.Nodes {
		l.Ensure(m.ID, m.Peer)
	}
	if faults.Flood {
		go l.flood()
	}
	return l
}

// Ensure starts a link to member id at its peer address unless one exists.
func (l *Links) Ensure(id, addr string) {
	if id == l.self.ID {
		return
	}
	l.peersMu.Lock()
	defer l.peersMu.Unlock()
	if _, ok := l.peers[id]; ok {
		return
	}
	p := &peerLink{id: id, addr: addr, queue: make(chan *kqpb.RoundMessage, peerQueueLen)}
	l.peers[id] = p
	go l.pump(p)
}

// Send queues m for each recipient and returns at once. Each link gets its
// own message (they differ in seq) over the same read-only bytes.
func (l *Links) Send(_ context.Context, m tss.Message) error {
	protocol := l.protocol()
	for _, to := range m.To {
		l.peersMu.RLock()
		p, ok := l.peers[to]
		l.peersMu.RUnlock()
		if !ok {
			return fmt.Errorf("node: send to unknown member %q", to)
		}
		out := []tss.Message{m}
		if l.faults.Outbound != nil {
			var err error
			if out, err = l.faults.Outbound(m, to); err != nil {
				return err
			}
		}
		for _, m := range out {
			msg := &kqpb.RoundMessage{SessionId: m.Session[:], To: m.To, Broadcast: m.Broadcast, Payload: m.Payload, Protocol: protocol}
			select {
			case p.queue <- msg:
			default:
				return fmt.Errorf("%w: %s", ErrBusy, to)
			}
		}
	}
	return nil
}

// pump keeps one Exchange stream open to the peer and writes queued
// messages to it. After a break it opens a new stream and writes the
// recent messages again before new ones (see peerLink.sent). The backoff
// between attempts starts over once a stream carried a message.
func (l *Links) pump(p *peerLink) {
	const firstBackoff = 100 * time.Millisecond
	backoff := firstBackoff
	for l.ctx.Err() == nil {
		carried, err := l.stream(p)
		if l.ctx.Err() != nil {
			return
		}
		l.log.Debug("peer stream down", "peer", p.id, "err", err)
		if carried {
			backoff = firstBackoff
		}
		select {
		case <-l.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// stream writes to one Exchange stream until it breaks; carried reports
// whether it wrote a new message.
func (l *Links) stream(p *peerLink) (carried bool, err error) {
	conn, err := l.Conn(p.addr)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancel(l.ctx)
	defer cancel()
	// Wait for a message before dialing, so an idle cluster keeps no
	// streams to peers that are down; unless some wait to be written again.
	resend := p.recent(time.Now())
	var next *kqpb.RoundMessage
	if len(resend) == 0 {
		select {
		case next = <-p.queue:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	s, err := kqpb.NewPeerServiceClient(conn).Exchange(ctx)
	if err != nil {
		if next != nil {
			p.remember(time.Now(), next) // written on the next stream
		}
		return false, err
	}
	// The callee answers with acks and, when the stream ends, its count
	// of refusals. Reading them is also how a broken stream shows while
	// there is nothing to write: without it a message lost with the
	// connection would wait for the next write to be resent, and two
	// members each waiting for the other's lost message would write
	// nothing (the mutual wait).
	broken := make(chan error, 1)
	acks := make(chan uint64, 256)
	go func() {
		for {
			a, err := s.Recv()
			if err != nil {
				broken <- err
				return
			}
			if a.Acked == 0 {
				continue
			}
			select {
			case acks <- a.Acked:
			default: // a lost ack costs one more write of its message
			}
		}
	}()
	tick := time.NewTicker(retransmitTick)
	defer tick.Stop()
	for _, m := range resend {
		if err := s.Send(m); err != nil {
			if next != nil {
				p.remember(time.Now(), next)
			}
			return false, err
		}
	}
	for {
		if next != nil {
			// Remembered before the write: a write that fails, that gRPC
			// accepts but the connection loses, or that the receiver could
			// not hold, is written again.
			p.seq++
			next.Seq = p.seq
			p.remember(time.Now(), next)
			if !p.lose(l.faults, next) {
				if err := s.Send(next); err != nil {
					return carried, err
				}
			}
			carried = true
		}
		next = nil
		select {
		case next = <-p.queue:
		case seq := <-acks:
			p.ack(seq)
		case now := <-tick.C:
			for _, m := range p.due(now) {
				if err := s.Send(m); err != nil {
					return carried, err
				}
			}
		case err := <-broken:
			return carried, fmt.Errorf("node: stream to %s ended: %w", p.id, err)
		case <-ctx.Done():
			return carried, ctx.Err()
		}
	}
}

// Conn returns a shared lazily-connecting client connection to addr,
// dialled through its proxy when the config names one.
func (l *Links) Conn(addr string) (*grpc.ClientConn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(l.self.Dial(addr), grpc.WithTransportCredentials(l.creds), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes)),
		grpc.WithConnectParams(peerConnectParams()))
	if err != nil {
		return nil, fmt.Errorf("node: dial %s: %w", addr, err)
	}
	l.conns[addr] = c
	return c, nil
}

// peerConnectParams bound how long a link to a member that was down waits
// before it tries again: gRPC's default backoff grows to two minutes (4 s
// after a 5 s outage), and a member that restarted took part in no session
// and answered no clock probe until its peers' next try, seconds after it
// was up. A cluster has a handful of members, so trying each once a second
// while it is down costs nothing.
func peerConnectParams() grpc.ConnectParams {
	return grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
		MinConnectTimeout: 2 * time.Second,
	}
}

// Close ends every link and connection.
func (l *Links) Close() {
	l.stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
}
