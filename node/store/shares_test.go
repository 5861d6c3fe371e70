package store

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/sealing"
	"github.com/keyquorum/keyquorum/sealing/sealingtest"
	"github.com/keyquorum/keyquorum/tss"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func fixtureShare(t testing.TB) *tss.Share {
	t.Helper()
	b, err := os.ReadFile("../../tss/testdata/share-v1-ed25519-node-a.json")
	if err != nil {
		t.Fatal(err)
	}
	sh, err := tss.UnmarshalShare(b)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

func testShareStore(t testing.TB, idle time.Duration) *Shares {
	s := NewShares(t.TempDir(), "kq-test", "node-a", sealingtest.New(t), nil)
	s.idle = idle
	return s
}

// wiped reports whether a share has been wiped: a wiped share refuses to
// encode.
func wiped(sh *tss.Share) bool {
	_, err := sh.MarshalBinary()
	return err != nil
}

func TestShareCacheEvictsIdleSharesAndReopensThem(t *testing.T) {
	ctx := context.Background()
	const idle = 200 * time.Millisecond
	s := testShareStore(t, idle)
	given := fixtureShare(t)
	if err := s.Put(ctx, "k", 1, 0, given); err != nil {
		t.Fatal(err)
	}
	first, err := s.Get(ctx, "k", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if first == given {
		t.Fatal("the cache holds the caller's share, not its own copy")
	}

	// In use more often than idle: the same share stays open.
	for range 6 {
		time.Sleep(idle / 3)
		again, err := s.Get(ctx, "k", 1, 0)
		if err != nil || again != first {
			t.Fatalf("share in use was reopened (err %v)", err)
		}
	}

	// Unused for idle: dropped from the cache, but a holder (a session
	// still signing) keeps an intact share.
	deadline := time.Now().Add(10 * idle)
	for s.cached() > 0 && time.Now().Before(deadline) {
		time.Sleep(idle / 4)
	}
	if n := s.cached(); n != 0 {
		t.Fatalf("%d shares still cached after idle", n)
	}
	if wiped(first) || wiped(given) {
		t.Fatal("eviction wiped a share someone still holds")
	}

	// The next use unseals it again, usable.
	start := time.Now()
	reopened, err := s.Get(ctx, "k", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reopen (software sealer) took %v", time.Since(start))
	if reopened == first || wiped(reopened) || string(reopened.PublicKey()) != string(given.PublicKey()) {
		t.Fatal("reopened share is not a fresh copy of the same share")
	}

	// Once the holder lets go, the evicted share's words are zeroed and
	// its memory returns for reuse.
	first = nil
	if !s.mem.Reclaimed(1) {
		t.Fatal("the evicted share's secret memory was not zeroed and reclaimed")
	}

	// Destroy drops the share and its file; a holder (a session still
	// running, whose tss-lib goroutines would crash on zeroed Paillier
	// integers) keeps an intact share, zeroed once it lets go.
	if err := s.Destroy("k", 1, 0); err != nil {
		t.Fatal(err)
	}
	if s.cached() != 0 || s.Has("k", 1, 0) {
		t.Fatal("destroyed share still cached or on disk")
	}
	if wiped(reopened) {
		t.Fatal("Destroy wiped a share a session still holds")
	}
	reopened = nil
	if !s.mem.Reclaimed(1) {
		t.Fatal("the destroyed share's secret memory was not zeroed and reclaimed once its holder let go")
	}
}

func (s *Shares) cached() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cache)
}

func TestPreParamsEvictedWhenIdleAndReopened(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := config.DefaultCluster()
	c.ID = "kq-test"
	abs, err := filepath.Abs("../../tss/testdata/preparams")
	if err != nil {
		t.Fatal(err)
	}
	c.Preparams.Source, c.Preparams.FixturesDir = config.PreparamsFixtures, abs
	p := NewPreParams(&c, "n1", t.TempDir(), sealingtest.New(t), quietLog())
	p.idle = 200 * time.Millisecond
	go p.Run(ctx, func(context.Context) error { return nil })
	first, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if primeP(t, first).Sign() == 0 {
		t.Fatal("pre-params loaded without their primes")
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.held() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if p.held() {
		t.Fatal("idle pre-params were not dropped")
	}
	if primeP(t, first).Sign() == 0 {
		t.Fatal("dropping the pre-params wiped them under a keygen still holding them")
	}
	again, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again == first || primeP(t, again).Sign() == 0 {
		t.Fatal("pre-params were not unsealed again after eviction")
	}
	first = nil
	if !p.secmem.Reclaimed(1) {
		t.Fatal("the dropped pre-params' secret memory was not zeroed and reclaimed")
	}
}

// TestPreParamsStatusDoesNotWaitOnUnseal holds a reopening Wait inside
// the sealer: `kq status` reads the status meanwhile and must not queue
// behind the TPM.
func TestPreParamsStatusDoesNotWaitOnUnseal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := config.DefaultCluster()
	c.ID = "kq-test"
	abs, err := filepath.Abs("../../tss/testdata/preparams")
	if err != nil {
		t.Fatal(err)
	}
	c.Preparams.Source, c.Preparams.FixturesDir = config.PreparamsFixtures, abs
	s := &stallingSealer{Sealer: sealingtest.New(t), release: make(chan struct{})}
	defer close(s.release)
	p := NewPreParams(&c, "n1", t.TempDir(), s, quietLog())
	go p.Run(ctx, func(context.Context) error { return nil })
	if _, err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.pp = nil // as after an idle eviction: the next Wait unseals
	p.mu.Unlock()
	s.stall.Store(true)
	go p.Wait(ctx)
	for s.stalled.Load() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	got := make(chan string, 1)
	go func() { got <- p.Status() }()
	select {
	case st := <-got:
		if st != "ready" {
			t.Fatalf("status %q, want ready", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Status waited on a pre-params unseal")
	}
}

// stallingSealer blocks Open, once stall is set, until release closes.
type stallingSealer struct {
	Sealer
	stall   atomic.Bool
	stalled atomic.Int32
	release chan struct{}
}

func (s *stallingSealer) Open(ctx context.Context, b sealing.Binding, blob []byte) ([]byte, error) {
	if s.stall.Load() {
		s.stalled.Add(1)
		<-s.release
	}
	return s.Sealer.Open(ctx, b, blob)
}

func (p *PreParams) held() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pp != nil
}

// primeP reads the safe prime P back out of the encoding, the one view of
// the secrets the tss package offers.
func primeP(t *testing.T, pp *tss.PreParams) *big.Int {
	t.Helper()
	b, err := pp.MarshalBinary()
	if err != nil {
		return new(big.Int)
	}
	defer clear(b)
	var f struct {
		Pre struct{ P *big.Int } `json:"pre"`
	}
	if err := json.Unmarshal(b, &f); err != nil || f.Pre.P == nil {
		t.Fatalf("decode pre-params: %v", err)
	}
	return f.Pre.P
}

// BenchmarkShareReopen measures what an idle eviction costs the next
// signer: reading the sealed file, opening it, decoding and re-validating
// the share, and moving its secrets into protected memory. The sealer here
// is the software envelope; a TPM unseal adds its own cost (BenchmarkOpen
// in sealing).
func BenchmarkShareReopen(b *testing.B) {
	ctx := context.Background()
	s := testShareStore(b, time.Hour)
	if err := s.Put(ctx, "k", 1, 0, fixtureShare(b)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		dropCached(s)
		b.StartTimer()
		if _, err := s.Get(ctx, "k", 1, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// dropCached evicts every cached share, as the idle timer would.
func dropCached(s *Shares) {
	s.mu.Lock()
	for _, e := range s.cache {
		e.timer.Stop()
	}
	s.cache = map[string]*openShare{}
	s.mu.Unlock()
}
