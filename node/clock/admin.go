package clock

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// AdminHandler serves the fault-injection endpoint for a Skewed clock:
//
//	GET  /clock                                   {"offset_ns","rate","now"}
//	POST /clock/bump?by=-5m
//	POST /clock/rate?rate=1.5
//	POST /clock/strobe?delta=200ms&period=10ms&for=5s
//	POST /clock/reset
func AdminHandler(s *Skewed) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /clock", func(w http.ResponseWriter, _ *http.Request) {
		off, rate := s.State()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"offset_ns": off.Nanoseconds(), "rate": rate, "now": s.Now().Format(time.RFC3339Nano)})
	})
	mux.HandleFunc("POST /clock/bump", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("by"))
		if err != nil {
			http.Error(w, "by: "+err.Error(), http.StatusBadRequest)
			return
		}
		s.Bump(d)
	})
	mux.HandleFunc("POST /clock/rate", func(w http.ResponseWriter, r *http.Request) {
		rate, err := strconv.ParseFloat(r.URL.Query().Get("rate"), 64)
		if err == nil {
			err = s.SetRate(rate)
		}
		if err != nil {
			http.Error(w, "rate: "+err.Error(), http.StatusBadRequest)
		}
	})
	mux.HandleFunc("POST /clock/strobe", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		delta, e1 := time.ParseDuration(q.Get("delta"))
		period, e2 := time.ParseDuration(q.Get("period"))
		dur, e3 := time.ParseDuration(q.Get("for"))
		err := firstErr(e1, e2, e3)
		if err == nil {
			err = s.Strobe(delta, period, dur)
		}
		if err != nil {
			http.Error(w, "strobe: "+err.Error(), http.StatusBadRequest)
		}
	})
	mux.HandleFunc("POST /clock/reset", func(http.ResponseWriter, *http.Request) { s.Reset() })
	return mux
}

// CheckLoopback refuses an admin address that is not on loopback: the
// endpoint changes the node's notion of time and has no authentication.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("clock: admin address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("clock: admin address %q must be a loopback IP", addr)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
