// Package availability measures how much of a run the cluster spent able
// to sign, from the recorded history and the nemesis's fault timeline. The
// checkers judge safety; this package says how long signing stopped, how
// long it took to come back after each fault healed, and how many signing
// requests failed, and, with a bound, whether recovery was slow enough to
// call a violation. It trusts only what a client could see: the calls and
// returns of the history, on the harness's monotonic clock.
//
// A successful sign is the first acknowledgement of a signing request id
// during traffic. A retry of an acknowledged request returns the signature
// stored with it without signing again, so counting it would show the
// cluster answering, not signing.
//
// "A quorum up and connected" comes from the fault timeline alone: a node
// killed or paused is down from the injection to the heal (restart or
// resume); a blackholed or dropped link is cut for the same span; clock
// faults and slow links take nothing away. A quorum is up and connected
// when a majority of the nodes are up and every two of them can reach each
// other both ways. A majority that reaches each other only through a third
// node (a majorities ring) does not count: a signing committee's members
// talk to each other directly.
package availability

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/keyquorum/keyquorum/jepsen/client"
	"github.com/keyquorum/keyquorum/jepsen/model"
	"github.com/keyquorum/keyquorum/jepsen/nemesis"
)

// Verdict is the availability verdict, kept apart from the safety verdict.
type Verdict string

// Availability verdicts.
const (
	// Unjudged means no bound was given (--max-recovery 0).
	Unjudged Verdict = "unjudged"
	// Met means that after every healed fault, each algorithm's first
	// sign called succeeded, or another sign called after it did, within
	// the bound.
	Met Verdict = "met"
	// Violated means some recovery took longer than the bound, counted
	// from the first sign called after the heal.
	Violated Verdict = "violated"
)

// OutageFloor is the shortest window without a successful sign that the
// report lists: clients take tens of milliseconds between signs, so
// shorter gaps are the workload's own pace, not an outage.
const OutageFloor = time.Second

// maxOutages bounds the windows listed per algorithm: the longest few show
// where signing stopped; the rest would bury them.
const maxOutages = 20

// Config is what Measure needs besides the history and the faults.
type Config struct {
	// Nodes are the cluster's node ids.
	Nodes []string
	// Start and End are the traffic window in history time: signs called
	// outside it (setup, the final reads after the heal) are not measured.
	Start, End int64
	// MaxRecovery is the bound of the verdict; zero leaves it unjudged.
	MaxRecovery time.Duration
}

// Report is the availability section of results.json. Times are history
// time in nanoseconds (_ns), durations milliseconds (_ms).
type Report struct {
	Start int64 `json:"traffic_start_ns"`
	End   int64 `json:"traffic_end_ns"`
	// NoQuorum are the windows in which no quorum was up and connected.
	NoQuorum []Window `json:"no_quorum,omitempty"`
	// All counts signs of every algorithm together; ByAlgorithm each
	// algorithm on its own (a success of one says nothing of the other:
	// ECDSA signs with other sessions and, often, presignatures).
	All         Measures            `json:"all"`
	ByAlgorithm map[string]Measures `json:"by_algorithm"`
	Verdict     Verdict             `json:"verdict"`
	MaxRecovery float64             `json:"max_recovery_ms,omitempty"`
	// Violations name the recoveries that broke the bound.
	Violations []string `json:"violations,omitempty"`
}

// Window is a span of history time.
type Window struct {
	Start int64   `json:"start_ns"`
	End   int64   `json:"end_ns"`
	Ms    float64 `json:"ms"`
}

func window(start, end int64) Window { return Window{Start: start, End: end, Ms: ms(end - start)} }

// Measures are one algorithm's (or all algorithms') numbers.
type Measures struct {
	// Successes are the signing requests acknowledged during traffic.
	Successes int `json:"successes"`
	// LongestOutage is the longest window with no successful sign while a
	// quorum was up and connected; Outages the windows of at least
	// OutageFloor, the longest maxOutages of them, in time order.
	LongestOutage Window   `json:"longest_outage"`
	Outages       []Window `json:"outages,omitempty"`
	// Recoveries has one entry per fault healed during traffic.
	Recoveries []Recovery `json:"recoveries,omitempty"`
	// RecoveryP50 and RecoveryMax are over the recovered faults
	// (nearest rank), Recovered and Unrecovered count them.
	RecoveryP50 float64 `json:"recovery_p50_ms"`
	RecoveryMax float64 `json:"recovery_max_ms"`
	Recovered   int     `json:"recovered"`
	Unrecovered int     `json:"unrecovered"`
	// WaitP50 and WaitMax are the recovered faults' waits for a sign to
	// be asked after the heal: how much of the recovery is the workload's
	// pace.
	WaitP50 float64 `json:"wait_p50_ms"`
	WaitMax float64 `json:"wait_max_ms"`
	// AskedP50 and AskedMax are the recovered faults' recoveries counted
	// from Asked, as the verdict counts them.
	AskedP50 float64 `json:"from_asked_p50_ms"`
	AskedMax float64 `json:"from_asked_max_ms"`
	// Unasked counts the healed faults after which no sign of the
	// algorithm was asked before traffic ended: nothing to measure.
	Unasked int `json:"unasked,omitempty"`
	// Requests are the signing requests of the traffic; Quiet those called
	// while no fault was active (recovery after a heal falls here).
	Requests Failures `json:"requests"`
	Quiet    Failures `json:"requests_without_fault"`
}

// Recovery is the time from one fault's heal to the next success.
type Recovery struct {
	Fault  int    `json:"fault"` // index in results.json's faults
	Name   string `json:"name"`
	Target string `json:"target"`
	Heal   int64  `json:"heal_ns"`
	// From is the heal, or, if the heal left no quorum up and connected
	// (another fault still held), the moment one was again: the time
	// before that is the other fault's, not this one's.
	From int64 `json:"from_ns"`
	// Asked is the first moment at or after From when a sign (of the
	// algorithm measured) was waiting for the cluster: From itself if one
	// called before was still in flight, else the next call, whatever its
	// outcome. Signs that never reached a node, and retries of requests
	// already acknowledged, wait for nothing of the cluster's and do not
	// count (sign.asks). WaitMs, from From to Asked, is the workload's pace, not the
	// cluster's (ECDSA signs are a few percent of the mix).
	Asked  int64   `json:"asked_ns"`
	WaitMs float64 `json:"wait_ms"`
	// Success is the return of the first successful sign after From (one
	// called at or after it, or one in flight across it that asked the
	// cluster for a new signature), and Ms the recovery, from From to it;
	// both zero when there was none.
	Success int64   `json:"success_ns,omitempty"`
	Ms      float64 `json:"ms,omitempty"`
	// Recovered is false when no sign succeeded after From.
	Recovered bool `json:"recovered"`
}

// judged is the part of a recovery the verdict holds to the bound: from
// Asked to the first success (or to the end of traffic). Time in which no
// sign was waiting says nothing of the cluster.
func (rec Recovery) judged(end int64) time.Duration {
	if rec.Recovered {
		return time.Duration(rec.Success - rec.Asked)
	}
	return time.Duration(end - rec.Asked)
}

// Failures counts signing requests by outcome. Unknown outcomes cut short
// by the end of traffic (the clients' calls are cancelled there) are left
// out: they say nothing about the cluster.
type Failures struct {
	Requests int `json:"requests"`
	// Unknown timed out or lost their connection; Unreached never reached
	// a node that could answer. Both are failures; every definite answer
	// (a signature, or a refusal the workload asked for, such as an
	// expired handle) is not.
	Unknown   int     `json:"unknown"`
	Unreached int     `json:"unreached"`
	Fraction  float64 `json:"failed_fraction"`
}

func (f *Failures) add(status model.Status) {
	f.Requests++
	switch status {
	case model.Unknown:
		f.Unknown++
	case model.Unreached:
		f.Unreached++
	}
	f.Fraction = float64(f.Unknown+f.Unreached) / float64(f.Requests)
}

// sign is one signing request of the traffic as the measures see it.
type sign struct {
	algorithm string
	call      int64
	status    model.Status
	success   bool // the first acknowledgement of its request id
	// asks is whether the sign put the cluster to work: it reached a node
	// (not Unreached: a client's pick of a node still down or booting,
	// while others serve, says nothing of the cluster) and asked for a new
	// signature (its request id was not acknowledged before its call: a
	// retry of one is answered from the record). Only such signs start a
	// recovery's clock (Recovery.Asked).
	asks bool
	ret  int64 // the return of a success
	end  int64 // its return, or when the client gave up on it
}

// Measure computes the report of one run.
func Measure(history []porcupine.Operation, faults []nemesis.Fault, cfg Config) Report {
	r := Report{Start: cfg.Start, End: cfg.End, ByAlgorithm: map[string]Measures{}, Verdict: Unjudged}
	r.NoQuorum = noQuorum(cfg.Nodes, faults, cfg.Start, cfg.End)
	signs := signsOf(history, cfg)
	r.All = measure(signs, faults, r.NoQuorum, cfg)
	algorithms := map[string][]sign{}
	for _, s := range signs {
		algorithms[s.algorithm] = append(algorithms[s.algorithm], s)
	}
	for alg, ss := range algorithms {
		r.ByAlgorithm[alg] = measure(ss, faults, r.NoQuorum, cfg)
	}
	if cfg.MaxRecovery > 0 {
		r.MaxRecovery = ms(int64(cfg.MaxRecovery))
		r.Verdict, r.Violations = judge(r.ByAlgorithm, cfg)
	}
	return r
}

// signsOf picks the signing requests called during traffic, with the
// algorithm of their key and whether each is a success.
func signsOf(history []porcupine.Operation, cfg Config) []sign {
	algorithm := map[string]string{}
	note := func(k model.KeyView) {
		if k.Name != "" && k.Algorithm != "" {
			algorithm[k.Name] = k.Algorithm
		}
	}
	for _, op := range history {
		in, out := op.Input.(model.Input), op.Output.(model.Output)
		if in.Kind == model.Create && in.Algorithm != "" {
			algorithm[in.Key] = in.Algorithm
		}
		note(out.Key)
		for _, k := range out.Keys {
			note(k)
		}
	}
	// A request id may be acknowledged more than once (retries); only its
	// earliest acknowledgement is a signature the cluster made.
	first := map[string]int64{}
	for _, op := range history {
		in, out := op.Input.(model.Input), op.Output.(model.Output)
		if in.Kind == model.Sign && out.Status == model.OK {
			if at, ok := first[in.RequestID]; !ok || op.Return < at {
				first[in.RequestID] = op.Return
			}
		}
	}
	acked := maps.Clone(first) // first is spent below, one success per id
	var signs []sign
	for _, op := range history {
		in, out := op.Input.(model.Input), op.Output.(model.Output)
		if in.Kind != model.Sign || op.Call < cfg.Start || op.Call >= cfg.End {
			continue
		}
		if out.Status == model.Unknown && gaveUp(op) >= cfg.End {
			continue // cancelled by the end of traffic
		}
		alg := algorithm[in.Key]
		if alg == "" {
			alg = "unknown"
		}
		at, done := acked[in.RequestID]
		s := sign{algorithm: alg, call: op.Call, status: out.Status, end: op.Return,
			asks: out.Status != model.Unreached && (!done || at > op.Call)}
		if out.Status == model.Unknown {
			s.end = gaveUp(op)
		}
		if out.Status == model.OK && first[in.RequestID] == op.Return {
			s.success, s.ret = true, op.Return
			first[in.RequestID] = math.MinInt64 // one success per request id
		}
		signs = append(signs, s)
	}
	return signs
}

// gaveUp is when the client gave up on an unknown outcome: its call plus
// the latency it recorded. A history without metadata says nothing, and
// the call stands in.
func gaveUp(op porcupine.Operation) int64 {
	if m, ok := op.Metadata.(client.Meta); ok {
		return op.Call + int64(m.Latency)
	}
	return op.Call
}

// measure computes the measures of one set of signs.
func measure(signs []sign, faults []nemesis.Fault, noQuorum []Window, cfg Config) Measures {
	var m Measures
	var rets []int64
	for _, s := range signs {
		if s.success {
			rets = append(rets, s.ret)
		}
		m.Requests.add(s.status)
		if !during(faults, s.call) {
			m.Quiet.add(s.status)
		}
	}
	slices.Sort(rets)
	m.Successes = len(rets)
	m.LongestOutage, m.Outages = outages(rets, noQuorum, cfg.Start, cfg.End)

	var took, waits, fromAsked []float64
	for i, f := range faults {
		if f.End < cfg.Start || f.End >= cfg.End {
			continue // healed outside traffic: nothing to recover into
		}
		rec := Recovery{Fault: i, Name: f.Name, Target: f.Target, Heal: f.End, From: quorumFrom(noQuorum, f.End)}
		if rec.From >= cfg.End {
			continue // the quorum came back only after traffic
		}
		asked := false
		for _, s := range signs {
			if s.call < rec.From {
				if s.asks && s.end > rec.From {
					// In flight across the heal: the cluster had a
					// request to answer from the heal on, and its
					// answer after the heal is the next successful sign.
					rec.Asked, asked = rec.From, true
					if s.success && (!rec.Recovered || s.ret < rec.Success) {
						rec.Success, rec.Recovered = s.ret, true
					}
				}
				continue
			}
			if s.asks && (!asked || s.call < rec.Asked) {
				rec.Asked, asked = s.call, true
			}
			if s.success && (!rec.Recovered || s.ret < rec.Success) {
				rec.Success, rec.Recovered = s.ret, true
			}
		}
		if !asked {
			m.Unasked++
			continue
		}
		rec.WaitMs = ms(rec.Asked - rec.From)
		if rec.Recovered {
			rec.Ms = ms(rec.Success - rec.From)
			took = append(took, rec.Ms)
			waits = append(waits, rec.WaitMs)
			fromAsked = append(fromAsked, ms(rec.Success-rec.Asked))
			m.Recovered++
		} else {
			m.Unrecovered++
		}
		m.Recoveries = append(m.Recoveries, rec)
	}
	m.RecoveryP50, m.RecoveryMax = p50max(took)
	m.WaitP50, m.WaitMax = p50max(waits)
	m.AskedP50, m.AskedMax = p50max(fromAsked)
	return m
}

// p50max returns the nearest-rank median and the maximum of xs.
func p50max(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	sort.Float64s(xs)
	return xs[(len(xs)+1)/2-1], xs[len(xs)-1]
}

// outages returns the longest window without a success while a quorum was
// up and connected, and the windows of at least OutageFloor. Each gap
// between successes (and from the start of traffic to the first, and from
// the last to the end) is cut by the windows without a quorum; every piece
// that remains is an outage.
func outages(rets []int64, noQuorum []Window, start, end int64) (Window, []Window) {
	var longest Window
	var listed []Window
	prev := start
	for _, t := range append(slices.Clone(rets), end) {
		t = min(max(t, start), end)
		for _, w := range minus(prev, t, noQuorum) {
			if w.Ms > longest.Ms {
				longest = w
			}
			if w.End-w.Start >= int64(OutageFloor) {
				listed = append(listed, w)
			}
		}
		prev = max(prev, t)
	}
	if len(listed) > maxOutages {
		sort.Slice(listed, func(i, j int) bool { return listed[i].Ms > listed[j].Ms })
		listed = listed[:maxOutages]
		sort.Slice(listed, func(i, j int) bool { return listed[i].Start < listed[j].Start })
	}
	return longest, listed
}

// minus returns [start, end) without the windows in out (sorted, apart).
func minus(start, end int64, out []Window) []Window {
	var pieces []Window
	for _, w := range out {
		if w.End <= start || w.Start >= end {
			continue
		}
		if w.Start > start {
			pieces = append(pieces, window(start, w.Start))
		}
		start = max(start, w.End)
	}
	if end > start {
		pieces = append(pieces, window(start, end))
	}
	return pieces
}

// quorumFrom returns t, or the end of the window without a quorum that
// holds t.
func quorumFrom(noQuorum []Window, t int64) int64 {
	for _, w := range noQuorum {
		if w.Start <= t && t < w.End {
			return w.End
		}
	}
	return t
}

// during reports whether a fault was active at t.
func during(faults []nemesis.Fault, t int64) bool {
	for _, f := range faults {
		if f.Start <= t && t < f.End {
			return true
		}
	}
	return false
}

// noQuorum returns the windows within [start, end) in which no quorum was
// up and connected, sorted and apart. Faults may overlap: at every moment
// the nodes down and the links cut are those of every fault active then.
func noQuorum(nodes []string, faults []nemesis.Fault, start, end int64) []Window {
	times := []int64{start}
	for _, f := range faults {
		for _, t := range []int64{f.Start, f.End} {
			if t > start && t < end {
				times = append(times, t)
			}
		}
	}
	slices.Sort(times)
	times = slices.Compact(times)
	var out []Window
	for i, t := range times {
		next := end
		if i+1 < len(times) {
			next = times[i+1]
		}
		if next <= t || Connected(nodes, active(faults, t)) {
			continue
		}
		if n := len(out); n > 0 && out[n-1].End == t {
			out[n-1] = window(out[n-1].Start, next)
		} else {
			out = append(out, window(t, next))
		}
	}
	return out
}

func active(faults []nemesis.Fault, t int64) []nemesis.Fault {
	var on []nemesis.Fault
	for _, f := range faults {
		if f.Start <= t && t < f.End {
			on = append(on, f)
		}
	}
	return on
}

// Connected reports whether, with the faults active, a majority of nodes
// is up and every two of them reach each other both ways.
func Connected(nodes []string, active []nemesis.Fault) bool {
	down := map[string]bool{}
	cut := map[[2]string]bool{}
	for _, f := range active {
		for _, id := range f.Down {
			down[id] = true
		}
		for _, l := range f.Cut {
			cut[l] = true
		}
	}
	var up []string
	for _, id := range nodes {
		if !down[id] {
			up = append(up, id)
		}
	}
	quorum := len(nodes)/2 + 1
	// At most five nodes: every subset of the live ones is few enough to
	// try.
	for set := 0; set < 1<<len(up); set++ {
		var members []string
		for i, id := range up {
			if set&(1<<i) != 0 {
				members = append(members, id)
			}
		}
		if len(members) >= quorum && clique(members, cut) {
			return true
		}
	}
	return false
}

func clique(members []string, cut map[[2]string]bool) bool {
	for _, a := range members {
		for _, b := range members {
			if a != b && cut[[2]string{a, b}] {
				return false
			}
		}
	}
	return true
}

// judge holds every algorithm's recoveries to the bound, counted from
// Asked (the heal, unless no sign was waiting then): a recovery that took
// longer, or a fault after which no sign succeeded although traffic went
// on for longer than the bound after one was asked, is a violation. A
// fault healed closer to the end than that is left undecided.
func judge(by map[string]Measures, cfg Config) (Verdict, []string) {
	var violations []string
	algs := make([]string, 0, len(by))
	for a := range by {
		algs = append(algs, a)
	}
	sort.Strings(algs)
	bound := cfg.MaxRecovery
	for _, alg := range algs {
		for _, rec := range by[alg].Recoveries {
			if rec.judged(cfg.End) <= bound {
				continue
			}
			what := fmt.Sprintf("%s: %s (%s) healed at %s", alg, rec.Name, rec.Target, at(rec.Heal))
			if rec.Asked > rec.Heal {
				what += fmt.Sprintf(", a sign asked %s later", dur(rec.Asked-rec.Heal))
			}
			if rec.Recovered {
				violations = append(violations, fmt.Sprintf("%s, first success returned %s after the heal (bound %s)",
					what, dur(rec.Success-rec.Heal), bound))
			} else {
				violations = append(violations, fmt.Sprintf("%s, none succeeded in the %s of traffic left (bound %s)",
					what, dur(cfg.End-rec.Asked), bound))
			}
		}
	}
	if len(violations) > 0 {
		return Violated, violations
	}
	return Met, nil
}

func ms(ns int64) float64 { return math.Round(float64(ns)/1e3) / 1e3 }

func dur(ns int64) time.Duration { return time.Duration(ns).Round(time.Millisecond) }

// at renders a history time as seconds since the recorder started.
func at(ns int64) string { return fmt.Sprintf("%.3fs", float64(ns)/1e9) }
