package metrics

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Serve serves h as GET /metrics on ln, the listener of addr, over plain
// HTTP, and returns the server for its owner to close. The endpoint has
// no authentication: it shows key names, request rates and raft state,
// but nothing secret; bind it to loopback or a monitoring network.
// cpuProfile also serves GET /debug/pprof/profile.
func Serve(ln net.Listener, addr string, h http.Handler, cpuProfile bool, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	if cpuProfile {
		// The CPU profile alone: the other pprof endpoints (goroutine
		// dumps with argument words, heap) could show more than stacks.
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 15 * time.Second}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			log.Warn("metrics endpoint is not on a loopback address; it has no authentication", "addr", ln.Addr().String())
		}
	}
	log.Info("metrics endpoint", "addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "addr", addr, "err", err)
		}
	}()
	return srv
}
