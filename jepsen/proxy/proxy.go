// Package proxy is a TCP proxy for one network link between two keyquorum
// nodes. The fault-injection harness puts one proxy on every directed link
// (source node, destination address) and switches its mode at runtime to
// partition, slow down or cut that link. It forwards bytes only: TLS passes
// through untouched.
package proxy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// ErrClosed is returned by Start on a proxy that was closed.
var ErrClosed = errors.New("proxy: closed")

// Kind is what a proxy does with the bytes of its link.
type Kind int

const (
	// Pass forwards every byte in both directions.
	Pass Kind = iota
	// Blackhole accepts connections and reads and discards what arrives,
	// forwarding nothing in either direction: callers hang until their
	// own deadlines fire, as behind a silent network partition.
	Blackhole
	// Drop closes every connection as soon as it is accepted, as a peer
	// that refuses connections would.
	Drop
	// Delay forwards every chunk of bytes after Mode.Delay.
	Delay
)

// String names the kind as the harness reports it.
func (k Kind) String() string {
	switch k {
	case Pass:
		return "pass"
	case Blackhole:
		return "blackhole"
	case Drop:
		return "drop"
	case Delay:
		return "delay"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Mode is a Kind with its parameter.
type Mode struct {
	Kind  Kind
	Delay time.Duration // for Delay only
}

// String renders the mode, e.g. "delay(200ms)".
func (m Mode) String() string {
	if m.Kind == Delay {
		return fmt.Sprintf("delay(%s)", m.Delay)
	}
	return m.Kind.String()
}

// Proxy listens on one address and forwards to one target. All methods are
// safe for concurrent use.
type Proxy struct {
	listen, target string
	log            *slog.Logger

	mu     sync.Mutex
	mode   Mode
	ln     net.Listener
	conns  map[*link]struct{}
	closed bool
	wg     sync.WaitGroup
}

// link is one accepted connection and its dialled counterpart (nil while
// blackholed or not yet dialled).
type link struct {
	in, out net.Conn
	mode    Mode
}

func (l *link) close() {
	l.in.Close()
	if l.out != nil {
		l.out.Close()
	}
}

// New returns a proxy from listen to target in Pass mode; Start opens it.
// A nil logger discards.
func New(listen, target string, log *slog.Logger) *Proxy {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Proxy{listen: listen, target: target, log: log, conns: map[*link]struct{}{}}
}

// Listen is the address the proxy accepts on.
func (p *Proxy) Listen() string { return p.listen }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Mode returns the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Start opens the listener and serves in the background until Close.
func (p *Proxy) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	ln, err := net.Listen("tcp", p.listen)
	if err != nil {
		return fmt.Errorf("proxy: listen %s: %w", p.listen, err)
	}
	p.ln = ln
	p.wg.Add(1)
	go p.accept(ln)
	return nil
}

// SetMode switches the link. Connections opened under another mode are
// closed, so that no byte crosses a blackholed link over a connection made
// before the partition, and no caller stays stuck on a blackholed
// connection after healing: they reconnect under the new mode.
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == m {
		return
	}
	p.mode = m
	for l := range p.conns {
		if l.mode != m {
			l.close()
		}
	}
}

// Close stops the listener, closes every connection and waits for the
// proxy's goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	if p.ln != nil {
		p.ln.Close()
	}
	for l := range p.conns {
		l.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		l := &link{in: c, mode: p.mode}
		p.conns[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(l)
	}
}

func (p *Proxy) serve(l *link) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.conns, l)
		p.mu.Unlock()
		l.close()
	}()
	switch l.mode.Kind {
	case Drop:
		return
	case Blackhole:
		_, _ = io.Copy(io.Discard, l.in)
		return
	}
	out, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		p.log.Debug("proxy: dial", "target", p.target, "err", err)
		return
	}
	p.mu.Lock()
	if _, live := p.conns[l]; !live || l.mode != p.mode {
		// The mode changed while dialling; SetMode could not close out.
		p.mu.Unlock()
		out.Close()
		return
	}
	l.out = out
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { pipe(out, l.in, l.mode.Delay); done <- struct{}{} }()
	go func() { pipe(l.in, out, l.mode.Delay); done <- struct{}{} }()
	<-done // one direction ended: tear both down
}

// pipe copies src to dst, holding each chunk for delay first.
func pipe(dst, src net.Conn, delay time.Duration) {
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if delay > 0 {
				time.Sleep(delay)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
