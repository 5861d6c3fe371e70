package frost

import (
	"bytes"
	"crypto/rand"
	"io"
	"math"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"filippo.io/edwards25519"
)

// A dudect-style timing test (Reparaz, Balasch and Verbauwhede, "Dude, is
// my code constant time?", DATE 2017) of the operations here that touch a
// secret. Each target runs on inputs of two classes that differ only in
// the secret: class 0 holds it fixed at 1 (a low-weight value, the kind an
// early exit or a skipped limb would favour), class 1 draws it at random.
// Every public input comes from the same distribution in both classes.
// The classes are interleaved at random, so a change in machine load
// falls on both alike, and Welch's t-test compares their timings, whole
// and cropped at several percentiles (dudect's guard against the long
// tail of interrupts and preemption). |t| above ctLeakT fails the run.
//
// The timing run is long and belongs on a quiet machine: it runs only with
// KQ_DUDECT=1 (make dudect; KQ_DUDECT_SAMPLES sets the measurements per
// target, default 100000), and first checks that it has the power to see
// a leak, on a known variable-time operation. The default suite runs the
// statistics on fixed data and a few hundred measurements of each target,
// asserting only what cannot depend on timing.

// ctLeakT is the |t| above which a target fails: dudect's threshold for a
// definite leak. Between 4.5 (its "probably") and this, the run logs a
// warning; rerun on a quiet machine with more samples.
const (
	ctLeakT    = 10
	ctSuspectT = 4.5
)

// ctTarget is one operation under test. prepare makes the inputs of one
// measurement of a class outside the timed interval and returns the timed
// call, which runs the operation batch times.
type ctTarget struct {
	name    string
	batch   int
	prepare func(t testing.TB, class int) func() error
}

// welch is Welch's t statistic of two samples: (m0-m1)/sqrt(v0/n0+v1/n1).
// It is 0 when either sample has fewer than two values or neither varies.
func welch(a, b []float64) float64 {
	if len(a) < 2 || len(b) < 2 {
		return 0
	}
	ma, va := meanVar(a)
	mb, vb := meanVar(b)
	den := math.Sqrt(va/float64(len(a)) + vb/float64(len(b)))
	if den == 0 {
		return 0
	}
	return (ma - mb) / den
}

func meanVar(xs []float64) (mean, variance float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		variance += (x - mean) * (x - mean)
	}
	return mean, variance / float64(len(xs)-1)
}

// ctCrops are the percentiles of the pooled timings at which the samples
// are also compared with everything above cut off; 100 is no crop.
var ctCrops = []float64{100, 99, 95, 90, 75, 50}

// maxT returns the largest |t| over the crops, and the crop it came from.
func maxT(class []int, d []float64) (float64, float64) {
	sorted := slices.Sorted(slices.Values(d))
	best, at := 0.0, 100.0
	for _, p := range ctCrops {
		limit := sorted[min(len(sorted)-1, int(float64(len(sorted))*p/100))]
		var a, b []float64
		for i, x := range d {
			if p < 100 && x > limit {
				continue
			}
			if class[i] == 0 {
				a = append(a, x)
			} else {
				b = append(b, x)
			}
		}
		if t := math.Abs(welch(a, b)); t > best {
			best, at = t, p
		}
	}
	return best, at
}

// ctChunk is how many measurements are prepared before any is timed:
// preparing a class's inputs (drawing randomness or not) right before its
// measurement would leave caches and predictors in a class-dependent
// state, which the t-test would report as a leak.
const ctChunk = 256

// measure runs n measurements of a target in random class order and
// returns each measurement's class and time in nanoseconds.
func measure(t testing.TB, tg ctTarget, n int, order *mrand.Rand) ([]int, []float64) {
	t.Helper()
	class := make([]int, n)
	d := make([]float64, n)
	runs := make([]func() error, ctChunk)
	for lo := 0; lo < n; lo += ctChunk {
		hi := min(n, lo+ctChunk)
		for i := lo; i < hi; i++ {
			class[i] = order.IntN(2)
			runs[i-lo] = tg.prepare(t, class[i])
		}
		for i := lo; i < hi; i++ {
			start := time.Now()
			err := runs[i-lo]()
			d[i] = float64(time.Since(start).Nanoseconds())
			if err != nil {
				t.Fatalf("%s, class %d: %v", tg.name, class[i], err)
			}
		}
	}
	return class, d
}

// ctRand returns a reader of fresh random bytes drawn now, so that a timed
// call reading randomness does not time the system's random source.
func ctRand(n int) io.Reader {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return bytes.NewReader(b)
}

// ctOrder is the random class order; its seed is logged so a run can be
// repeated.
func ctOrder(t testing.TB) *mrand.Rand {
	var seed [32]byte
	_, _ = rand.Read(seed[:])
	t.Logf("class order seed %x", seed)
	return mrand.New(mrand.NewChaCha8(seed))
}

// ctScalar returns the secret of a class: 1 for class 0, else random.
func ctScalar(t testing.TB, class int) *edwards25519.Scalar {
	if class == 0 {
		return scalarOne()
	}
	return ctRandomScalar(t)
}

func ctRandomScalar(t testing.TB) *edwards25519.Scalar {
	var b [64]byte
	_, _ = rand.Read(b[:])
	s, err := edwards25519.NewScalar().SetUniformBytes(b[:])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ctGroupKey is a fixed, valid group public key: the targets' public
// input that both classes share.
func ctGroupKey(t testing.TB) []byte {
	return new(edwards25519.Point).ScalarBaseMult(ctRandomScalar(t)).Bytes()
}

func ctKeyShare(t testing.TB, id Identifier, secret *edwards25519.Scalar, group []byte) *KeyShare {
	t.Helper()
	k, err := NewKeyShare(id, secret.Bytes(), group)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// ctTargets are the operations of this package that take a secret.
func ctTargets(t testing.TB) []ctTarget {
	group := ctGroupKey(t)
	id1, _ := NewIdentifier(1)
	id2, _ := NewIdentifier(2)
	other := ctKeyShare(t, id2, ctRandomScalar(t), group)
	return []ctTarget{{
		// Round two's arithmetic alone: the nonces and the key share are
		// the secrets, the binding factor and lambda·c public.
		name:  "share arithmetic (Sign's z_i)",
		batch: 64,
		prepare: func(t testing.TB, class int) func() error {
			type in struct{ d, e, rho, k, s *edwards25519.Scalar }
			ins := make([]in, 64)
			for i := range ins {
				ins[i] = in{ctScalar(t, class), ctScalar(t, class), ctRandomScalar(t), ctRandomScalar(t), ctScalar(t, class)}
			}
			var z edwards25519.Scalar
			return func() error {
				for _, x := range ins {
					shareArithmetic(&z, x.d, x.e, x.rho, x.k, x.s)
				}
				return nil
			}
		},
	}, {
		// Round one: nonce_generate hashes the share in; the nonces become
		// points. The randomness is fresh in both classes.
		name:  "Commit",
		batch: 1,
		prepare: func(t testing.TB, class int) func() error {
			k := ctKeyShare(t, id1, ctScalar(t, class), group)
			r := ctRand(64)
			return func() error {
				_, _, err := Commit(k, r)
				return err
			}
		},
	}, {
		// Round two whole: fresh nonces and commitments in both classes,
		// the key share by class.
		name:  "Sign",
		batch: 1,
		prepare: func(t testing.TB, class int) func() error {
			k := ctKeyShare(t, id1, ctScalar(t, class), group)
			n1, c1, err := Commit(k, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			_, c2, err := Commit(other, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			msg := make([]byte, 32)
			_, _ = rand.Read(msg)
			list := []Commitment{c1, c2}
			return func() error {
				_, err := Sign(k, n1, msg, list)
				return err
			}
		},
	}, {
		// Loading a share: decoding the secret and deriving its verifying
		// share.
		name:  "NewKeyShare",
		batch: 1,
		prepare: func(t testing.TB, class int) func() error {
			secret := ctScalar(t, class).Bytes()
			return func() error {
				_, err := NewKeyShare(id1, secret, group)
				return err
			}
		},
	}}
}

// ctControl is a variable-time operation the test must see leak, or it
// has no power on this machine: a scalar multiplication whose time
// depends on the scalar's non-adjacent form.
func ctControl() ctTarget {
	return ctTarget{name: "control: VarTimeDoubleScalarBaseMult", batch: 1, prepare: func(t testing.TB, class int) func() error {
		a, zero, p := ctScalar(t, class), edwards25519.NewScalar(), edwards25519.NewGeneratorPoint()
		return func() error {
			new(edwards25519.Point).VarTimeDoubleScalarBaseMult(a, p, zero)
			return nil
		}
	}}
}

// The statistics themselves, on fixed data: no timing involved.
func TestWelchT(t *testing.T) {
	a := []float64{10, 12, 14, 16, 18}
	b := []float64{20, 21, 22, 23, 24}
	// means 14 and 22, variances 10 and 2.5: t = -8/sqrt(2+0.5).
	if got, want := welch(a, b), -8/math.Sqrt(2.5); math.Abs(got-want) > 1e-12 {
		t.Fatalf("welch = %v, want %v", got, want)
	}
	if got := welch(a, a); got != 0 {
		t.Fatalf("welch of a sample with itself = %v", got)
	}
	if got := welch(a[:1], b); got != 0 {
		t.Fatalf("welch with one value = %v", got)
	}
	// A shift hidden under a long tail: the uncropped t is small, a crop
	// finds the difference.
	var class []int
	var d []float64
	for i := range 2000 {
		c := i % 2
		x := 1000 + float64(i%7) + 3*float64(c)
		if i%50 < 2 {
			x = 1e6 + 1e4*float64(i%13) // a tail, alike in both classes
		}
		class, d = append(class, c), append(d, x)
	}
	var a0, b0 []float64
	for i, x := range d {
		if class[i] == 0 {
			a0 = append(a0, x)
		} else {
			b0 = append(b0, x)
		}
	}
	whole := math.Abs(welch(a0, b0))
	best, at := maxT(class, d)
	if !(best > ctLeakT && at < 100 && whole < ctSuspectT) {
		t.Fatalf("crop: whole |t| %.1f, best %.1f at %v%%: the crop should expose the shift the tail hides", whole, best, at)
	}
}

// A few hundred measurements of every target in the default suite: the
// inputs of both classes are valid (every call succeeds) and both classes
// are measured. The timing verdict needs KQ_DUDECT=1.
func TestConstantTimeSmoke(t *testing.T) {
	order := ctOrder(t)
	for _, tg := range append(ctTargets(t), ctControl()) {
		class, d := measure(t, tg, 400, order)
		n0 := len(class) - sum(class)
		if n0 < 100 || n0 > 300 {
			t.Fatalf("%s: %d of %d measurements in class 0", tg.name, n0, len(class))
		}
		tt, at := maxT(class, d)
		t.Logf("%s: |t| %.2f (crop %v%%) over %d measurements; not a verdict", tg.name, tt, at, len(d))
	}
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// TestConstantTime is the timing verdict: KQ_DUDECT=1, on a quiet machine.
func TestConstantTime(t *testing.T) {
	if os.Getenv("KQ_DUDECT") != "1" {
		t.Skip("timing run; KQ_DUDECT=1 (make dudect)")
	}
	n := 100_000
	if s := os.Getenv("KQ_DUDECT_SAMPLES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1000 {
			t.Fatalf("KQ_DUDECT_SAMPLES=%q: want a number of at least 1000", s)
		}
		n = v
	}
	order := ctOrder(t)
	report := func(tg ctTarget, m int) float64 {
		class, d := measure(t, tg, m, order)
		tt, at := maxT(class, d)
		med := slices.Sorted(slices.Values(d))[len(d)/2] / float64(tg.batch)
		t.Logf("%-40s |t| = %6.2f (crop %v%%), %d measurements, median %s per call", tg.name, tt, at, m,
			time.Duration(med))
		return tt
	}
	// Power first: a run that cannot see a known leak proves nothing.
	if tt := report(ctControl(), min(n, 20_000)); tt < ctLeakT {
		t.Fatalf("the control leak was not detected (|t| %.2f < %d): this machine is too noisy for a verdict", tt, ctLeakT)
	}
	for _, tg := range ctTargets(t) {
		switch tt := report(tg, n); {
		case tt > ctLeakT:
			t.Errorf("%s: timing depends on the secret (|t| %.2f > %d)", tg.name, tt, ctLeakT)
		case tt > ctSuspectT:
			t.Logf("%s: |t| %.2f above %.1f: inconclusive; rerun quieter with more samples", tg.name, tt, ctSuspectT)
		}
	}
}
