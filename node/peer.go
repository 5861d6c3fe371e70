package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/tss"
)

// peerQueueLen bounds the round messages waiting for one peer. A full queue
// fails the session that tried to send; the leader retries the request
// under another committee.
const peerQueueLen = 4096

// errPeerBusy is returned when a peer's outbound queue is full.
var errPeerBusy = errors.New("node: peer queue full")

// peerLinks implements tss.Transport over one PeerService.Exchange stream to
// each other member, and keeps the gRPC connections the node uses to reach
// other members (round messages, proposals, forwarded client calls).
type peerLinks struct {
	self  config.NodeConfig
	creds credentials.TransportCredentials
	log   *slog.Logger
	// peers are the links by member id; a member added later gets one
	// through ensure, so reads take peersMu.
	peersMu sync.RWMutex
	peers   map[string]*peerLink
	// protocol is the cluster's active protocol version, written on every
	// round message.
	protocol func() uint32
	bugs     Bugs
	// malice plays a malicious member in chosen sessions (the
	// malicious-member bug, kqd_bugs builds only).
	malice maliceState
	ctx    context.Context
	stop   context.CancelFunc

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
func (p *peerLink) lose(bugs Bugs, m *kqpb.RoundMessage) bool {
	if !bugs.dropMessage() {
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

var _ tss.Transport = (*peerLinks)(nil)

func newPeerLinks(c *config.Cluster, self config.NodeConfig, creds credentials.TransportCredentials, bugs Bugs, log *slog.Logger) *peerLinks {
	ctx, stop := context.WithCancel(context.Background())
	l := &peerLinks{self: self, creds: creds, bugs: bugs, log: log, peers: map[string]*peerLink{}, conns: map[string]*grpc.ClientConn{}, ctx: ctx, stop: stop,
		protocol: func() uint32 { return fsm.ProtocolV1 }}
	for _, m := range c.Nodes {
		l.ensure(m.ID, m.Peer)
	}
	if bugs.floodMessages() {
		go l.flood()
	}
	return l
}

// ensure starts a link to member id at its peer address unless one exists.
func (l *peerLinks) ensure(id, addr string) {
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
func (l *peerLinks) Send(_ context.Context, m tss.Message) error {
	protocol := l.protocol()
	for _, to := range m.To {
		l.peersMu.RLock()
		p, ok := l.peers[to]
		l.peersMu.RUnlock()
		if !ok {
			return fmt.Errorf("node: send to unknown member %q", to)
		}
		out := []tss.Message{m}
		if l.bugs.maliciousMember() {
			var err error
			if out, err = l.malice.outbound(m, to); err != nil {
				return err
			}
		}
		for _, m := range out {
			msg := &kqpb.RoundMessage{SessionId: m.Session[:], To: m.To, Broadcast: m.Broadcast, Payload: m.Payload, Protocol: protocol}
			select {
			case p.queue <- msg:
			default:
				return fmt.Errorf("%w: %s", errPeerBusy, to)
			}
		}
	}
	return nil
}

// pump keeps one Exchange stream open to the peer and writes queued
// messages to it. After a break it opens a new stream and writes the
// recent messages again before new ones (see peerLink.sent). The backoff
// between attempts starts over once a stream carried a message.
func (l *peerLinks) pump(p *peerLink) {
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
func (l *peerLinks) stream(p *peerLink) (carried bool, err error) {
	conn, err := l.conn(p.addr)
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
			if !p.lose(l.bugs, next) {
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

// conn returns a shared lazily-connecting client connection to addr,
// dialled through its proxy when the config names one.
func (l *peerLinks) conn(addr string) (*grpc.ClientConn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(l.self.Dial(addr), grpc.WithTransportCredentials(l.creds), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxPeerMessageBytes)),
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

func (l *peerLinks) close() {
	l.stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
}

// peerService is the server side of PeerService.
type peerService struct {
	kqpb.UnimplementedPeerServiceServer
	n *Node
}

// Exchange feeds a peer's round messages to the engine. The sender is the
// member named in the caller's certificate; the engine drops duplicates and
// messages from outside the session's committee. A stream that carries
// nothing for exchangeIdleTimeout ends: the sender opens another with its
// next message, so an idle or stuck stream holds no server resources.
func (s *peerService) Exchange(stream grpc.BidiStreamingServer[kqpb.RoundMessage, kqpb.ExchangeAck]) error {
	from, err := s.n.peerIdentity(stream.Context())
	if err != nil {
		return err
	}
	msgs, ended := make(chan *kqpb.RoundMessage), make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				ended <- err
				return
			}
			select {
			case msgs <- m:
			case <-stream.Context().Done():
				return // the handler returned
			}
		}
	}()
	idle := time.NewTimer(exchangeIdleTimeout)
	defer idle.Stop()
	var rejected uint64
	// Rejections are logged at most once a second per stream, with how
	// many were not: a member flooding junk must not buy a log line per
	// message on every peer.
	var lastLogged time.Time
	var unlogged uint64
	for {
		var m *kqpb.RoundMessage
		select {
		case m = <-msgs:
			idle.Reset(exchangeIdleTimeout)
		case err := <-ended:
			if err == io.EOF {
				return stream.Send(&kqpb.ExchangeAck{Rejected: rejected})
			}
			return err
		case <-idle.C:
			return status.Errorf(codes.DeadlineExceeded, "no round message for %s", exchangeIdleTimeout)
		}
		var sid tss.SessionID
		if len(m.SessionId) != len(sid) || m.Protocol > fsm.MaxProtocol {
			rejected++
		} else {
			copy(sid[:], m.SessionId)
			err := s.n.engine.Deliver(tss.Message{Session: sid, From: from, To: m.To, Broadcast: m.Broadcast, Payload: m.Payload})
			if err != nil {
				rejected++
				if now := time.Now(); now.Sub(lastLogged) >= time.Second {
					s.n.log.Debug("round message rejected", "from", from, "session", sid, "err", err, "not_logged", unlogged)
					lastLogged, unlogged = now, 0
				} else {
					unlogged++
				}
			}
			if errors.Is(err, tss.ErrPendingFull) {
				// Not acknowledged: the sender writes it again in a
				// second, when the session may have started here.
				continue
			}
		}
		if m.Seq != 0 {
			if err := stream.Send(&kqpb.ExchangeAck{Acked: m.Seq}); err != nil {
				return err
			}
		}
	}
}

// Propose appends a member's report on behalf of the member that did the work.
func (s *peerService) Propose(ctx context.Context, req *kqpb.ProposeRequest) (*kqpb.ProposeResponse, error) {
	from, err := s.n.peerIdentity(ctx)
	if err != nil {
		return nil, err
	}
	idx, err := s.n.proposeReport(ctx, from, req.Command)
	if err != nil {
		return nil, toStatus(err)
	}
	return &kqpb.ProposeResponse{Index: idx}, nil
}

// Clock answers another member's probe of this node's wall clock.
func (s *peerService) Clock(ctx context.Context, _ *kqpb.ClockRequest) (*kqpb.ClockReading, error) {
	if _, err := s.n.peerIdentity(ctx); err != nil {
		return nil, err
	}
	return &kqpb.ClockReading{UnixNano: s.n.clock.Now().UnixNano(), AppliedIndex: s.n.fsm.AppliedIndex(), Boot: s.n.boot}, nil
}

// SignCommitted starts this member's part of signing attempts the leader
// has applied, ahead of raft's next commit notice.
func (s *peerService) SignCommitted(ctx context.Context, req *kqpb.CommittedSign) (*kqpb.CommittedSignAck, error) {
	from, err := s.n.peerIdentity(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.n.signCommitted(ctx, from, req); err != nil {
		return nil, err
	}
	return &kqpb.CommittedSignAck{}, nil
}
