package consensus

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// streamLayer is raft's StreamLayer over TCP, wrapped in mutual TLS when a
// tls.Config is given. Peers are authenticated by chain to the cluster CA
// only: any holder of a certificate issued by that CA may speak raft.
type streamLayer struct {
	ln          net.Listener
	advertise   net.Addr
	tls         *tls.Config // nil: plain TCP
	dialTimeout time.Duration
	route       func(string) string // advertised address -> address to dial
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func newStreamLayer(addr string, tlsConf *tls.Config, dialTimeout time.Duration, route func(string) string) (*streamLayer, error) {
	if route == nil {
		route = func(a string) string { return a }
	}
	advertise, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("consensus: resolve %s: %w", addr, err)
	}
	if advertise.IP == nil || advertise.IP.IsUnspecified() {
		return nil, fmt.Errorf("consensus: raft address %s must name a reachable host, not a wildcard", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("consensus: listen %s: %w", addr, err)
	}
	if tlsConf != nil {
		tlsConf = tlsConf.Clone()
		if tlsConf.MinVersion < tls.VersionTLS13 {
			tlsConf.MinVersion = tls.VersionTLS13
		}
	}
	return &streamLayer{ln: ln, advertise: advertise, tls: tlsConf, dialTimeout: dialTimeout, route: route}, nil
}

// Accept returns the next inbound connection. The TLS handshake is not run
// here, so one slow client cannot stall the accept loop; it runs on the
// connection's first Read or Write, bounded by the dial timeout.
func (s *streamLayer) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	if s.tls == nil {
		return c, nil
	}
	return &serverConn{Conn: tls.Server(c, s.tls), timeout: s.dialTimeout}, nil
}

// Close stops the listener; established connections are closed by raft.
func (s *streamLayer) Close() error { return s.ln.Close() }

// Addr is the advertised address, which raft stores in its configuration.
func (s *streamLayer) Addr() net.Addr { return s.advertise }

// Dial connects to a peer. timeout (raft's RPC timeout) and the configured
// dial timeout, whichever is shorter, bound the connect plus the handshake.
func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 || timeout > s.dialTimeout {
		timeout = s.dialTimeout
	}
	nd := &net.Dialer{Timeout: timeout}
	to := s.route(string(addr))
	if s.tls == nil {
		return nd.Dial("tcp", to)
	}
	d := &tls.Dialer{NetDialer: nd, Config: s.tls}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", to)
	if err != nil {
		return nil, fmt.Errorf("consensus: dial %s (via %s): %w", addr, to, err)
	}
	return c, nil
}

// serverConn runs the server-side handshake once, under a deadline, before
// the first byte is read or written. raft sets no deadlines on inbound
// connections, so without this an idle TLS client would hold a goroutine.
type serverConn struct {
	*tls.Conn
	timeout time.Duration
	once    sync.Once
	err     error
}

func (c *serverConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		if err := c.Conn.HandshakeContext(ctx); err != nil {
			c.err = fmt.Errorf("consensus: tls handshake from %s: %w", c.RemoteAddr(), err)
			_ = c.Conn.Close()
		}
	})
	return c.err
}

func (c *serverConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *serverConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
