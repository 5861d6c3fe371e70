// Package secmem hands out memory for plaintext secrets that a core dump
// leaves out and that is locked in RAM where the host allows, and wipes
// it once nothing can read it any more.
package secmem

import (
	"log/slog"
	"math/big"
	"runtime"
	"slices"
	"sync"
	"time"
	"unsafe"
)

// wordSize is the size of a big.Word in bytes.
const wordSize = int(unsafe.Sizeof(big.Word(0)))

// Mem hands out memory for plaintext secrets (cached shares and
// pre-params): anonymous pages that a core dump leaves out (MADV_DONTDUMP)
// and that are locked in RAM (mlock) when RLIMIT_MEMLOCK allows, so they
// are never written to swap. kqd also turns core dumps off; this is the
// second line, for a host where someone turns them back on or a debugger
// writes one.
//
// What it covers: the words of a cached share's secret integers (xi; for
// ECDSA also the Paillier lambda, phi, p, q and the ring-Pedersen alpha,
// beta, p', q') and of the cached pre-params. What it cannot: the
// plaintext and the JSON decoder's temporaries while a share is opened
// (the plaintext is cleared, the temporaries are garbage on the heap),
// values tss-lib derives from the share during a session (w_i, k_i,
// gamma_i, sigma_i, Paillier decryption intermediates), copies the Go
// runtime makes on stacks and in registers, and the sealing KEK.
//
// Chunks come back only when every integer placed in them is unreachable
// (see Region); they are zeroed and kept for reuse rather than unmapped,
// which keeps the number of mappings and mlock calls at the peak need.
type Mem struct {
	log  *slog.Logger
	what string // "shares" or "pre-params", for the log line

	mu       sync.Mutex
	free     [][]byte // zeroed chunks ready for reuse
	reported bool     // the one log line about locking has been written
}

// New returns an allocator that logs, once, whether its pages are
// locked; log may be nil. what names its contents in that line ("shares",
// "pre-params").
func New(log *slog.Logger, what string) *Mem {
	return &Mem{log: log, what: what}
}

// chunk returns a zeroed chunk of at least n bytes.
func (m *Mem) chunk(n int) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, c := range m.free {
		if len(c) >= n {
			m.free = append(m.free[:i], m.free[i+1:]...)
			return c
		}
	}
	c, locked, err := mapSecret(n)
	if !m.reported && m.log != nil {
		m.reported = true
		switch {
		case err != nil:
			m.log.Warn("secret memory: protected pages unavailable; "+m.what+" live on the ordinary heap", "err", err)
		case !locked:
			m.log.Warn("secret memory: " + m.what + " excluded from core dumps but not locked in RAM (RLIMIT_MEMLOCK); they may be swapped")
		default:
			m.log.Info("secret memory: " + m.what + " kept in locked pages excluded from core dumps")
		}
	}
	return c
}

// put zeroes a chunk and keeps it for reuse.
func (m *Mem) put(c []byte) {
	clear(c)
	m.mu.Lock()
	m.free = append(m.free, c)
	m.mu.Unlock()
}

// Reclaimed collects garbage until at least n chunks wait for reuse,
// for up to two seconds, and reports whether it got there with every one
// of them zeroed: a test's check that the secrets it dropped were wiped
// and their memory returned.
func (m *Mem) Reclaimed(n int) bool {
	for range 100 {
		runtime.GC()
		m.mu.Lock()
		got, zeroed := len(m.free), true
		for _, c := range m.free {
			zeroed = zeroed && !slices.ContainsFunc(c, func(b byte) bool { return b != 0 })
		}
		m.mu.Unlock()
		if got >= n {
			return zeroed
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Region is the memory of one opened share or set of pre-params: a bump
// allocator over chunks from a Mem. Each integer placed in it gets a
// cleanup that zeroes its words when the integer becomes unreachable, and
// the chunks go back to the Mem when the last one has. So dropping a
// share from the cache never pulls memory from under a session that still
// holds its integers; the words are wiped once nothing can read them.
type Region struct {
	m *Mem

	mu     sync.Mutex
	chunks [][]byte
	rest   []byte // unused tail of the last chunk
	live   int    // placed integers not yet cleaned up
}

// Region starts a region for one secret's integers.
func (m *Mem) Region() *Region { return &Region{m: m} }

// Words implements tss.Words.
func (r *Region) Words(x *big.Int, n int) []big.Word {
	need := n * wordSize
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rest) < need {
		c := r.m.chunk(need)
		r.chunks = append(r.chunks, c)
		r.rest = c
	}
	b := r.rest[:need:need]
	r.rest = r.rest[need:]
	r.live++
	w := unsafe.Slice((*big.Word)(unsafe.Pointer(unsafe.SliceData(b))), n)
	runtime.AddCleanup(x, r.forget, w)
	return w
}

// forget zeroes one dead integer's words and, after the last, gives the
// chunks back.
func (r *Region) forget(w []big.Word) {
	clear(w)
	r.mu.Lock()
	r.live--
	var done [][]byte
	if r.live == 0 {
		done, r.chunks, r.rest = r.chunks, nil, nil
	}
	r.mu.Unlock()
	for _, c := range done {
		r.m.put(c)
	}
}
