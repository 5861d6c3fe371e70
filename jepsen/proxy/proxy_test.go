package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func startProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := New(addr, target, nil)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// roundTrip sends a line and waits up to wait for the echo.
func roundTrip(t *testing.T, c net.Conn, wait time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	if err := c.SetDeadline(start.Add(wait)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return 0, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0, err
	}
	if line != "ping\n" {
		t.Fatalf("echo = %q", line)
	}
	return time.Since(start), nil
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Listen())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestPassForwardsBothWays(t *testing.T) {
	p := startProxy(t, echoServer(t))
	if _, err := roundTrip(t, dial(t, p), 2*time.Second); err != nil {
		t.Fatalf("pass: %v", err)
	}
}

func TestBlackholeHangsWithoutForwarding(t *testing.T) {
	p := startProxy(t, echoServer(t))
	p.SetMode(Mode{Kind: Blackhole})
	_, err := roundTrip(t, dial(t, p), 300*time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blackhole: err = %v, want a timeout (the connection must hang, not close)", err)
	}
}

func TestDropClosesConnections(t *testing.T) {
	p := startProxy(t, echoServer(t))
	p.SetMode(Mode{Kind: Drop})
	_, err := roundTrip(t, dial(t, p), 2*time.Second)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("drop: err = %v, want the connection closed at once", err)
	}
}

func TestDelayHoldsBytes(t *testing.T) {
	p := startProxy(t, echoServer(t))
	p.SetMode(Mode{Kind: Delay, Delay: 100 * time.Millisecond})
	took, err := roundTrip(t, dial(t, p), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Each direction holds the bytes once.
	if took < 200*time.Millisecond {
		t.Fatalf("delay: round trip took %v, want >= 200ms", took)
	}
}

func TestModeChangeClosesLiveConnections(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c := dial(t, p)
	if _, err := roundTrip(t, c, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	p.SetMode(Mode{Kind: Blackhole})
	if _, err := roundTrip(t, c, 2*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("old connection after blackhole: err = %v, want closed", err)
	}
	stuck := dial(t, p)
	if _, err := roundTrip(t, stuck, 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("new connection while blackholed: err = %v, want a timeout", err)
	}
	p.SetMode(Mode{Kind: Pass})
	if _, err := roundTrip(t, stuck, 2*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blackholed connection after heal: err = %v, want closed so the caller reconnects", err)
	}
	if _, err := roundTrip(t, dial(t, p), 2*time.Second); err != nil {
		t.Fatalf("new connection after heal: %v", err)
	}
}

func TestCloseEndsEverything(t *testing.T) {
	p := startProxy(t, echoServer(t))
	p.SetMode(Mode{Kind: Blackhole})
	dial(t, p)
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not return with a blackholed connection open")
	}
	if err := p.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
}
