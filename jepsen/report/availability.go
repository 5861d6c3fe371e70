package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/keyquorum/keyquorum/jepsen/availability"
)

// availabilityLines renders the availability section for the summary: the
// longest outage, the failed fraction of signs, each algorithm's recovery,
// and the verdict with its first violations.
func availabilityLines(a availability.Report) string {
	var b strings.Builder
	all := a.All
	lo := all.LongestOutage
	fmt.Fprintf(&b, "  availability: longest window without a sign while a quorum was up %s (%s-%s); failed signs %s, without a fault %s\n",
		seconds(lo.Ms), at(lo.Start), at(lo.End), failed(all.Requests), failed(all.Quiet))
	algs := make([]string, 0, len(a.ByAlgorithm))
	for alg := range a.ByAlgorithm {
		algs = append(algs, alg)
	}
	sort.Strings(algs)
	for _, alg := range algs {
		m := a.ByAlgorithm[alg]
		line := fmt.Sprintf("    %s: no recovery measured", alg)
		if m.Recovered > 0 {
			line = fmt.Sprintf("    %s: recovery after a heal p50 %s max %s over %d faults (from the first sign asked: p50 %s max %s)",
				alg, seconds(m.RecoveryP50), seconds(m.RecoveryMax), m.Recovered, seconds(m.AskedP50), seconds(m.AskedMax))
		}
		if m.Unrecovered > 0 {
			line += fmt.Sprintf(", %d with no success after", m.Unrecovered)
		}
		if m.Unasked > 0 {
			line += fmt.Sprintf(", %d with no sign asked after", m.Unasked)
		}
		line += fmt.Sprintf("; longest window %s; failed %s", seconds(m.LongestOutage.Ms), failed(m.Requests))
		b.WriteString(line + "\n")
	}
	if a.Verdict != availability.Unjudged {
		bound := time.Duration(a.MaxRecovery * float64(time.Millisecond))
		fmt.Fprintf(&b, "    max recovery %s: %s\n", bound, strings.ToUpper(string(a.Verdict)))
		for i, v := range a.Violations {
			if i == 4 {
				fmt.Fprintf(&b, "    and %d more\n", len(a.Violations)-i)
				break
			}
			fmt.Fprintf(&b, "    violation: %s\n", v)
		}
	}
	return b.String()
}

// availabilityAnnotations draws the availability measures on
// history.html's timeline, under the faults: the windows without a
// quorum, the windows without a sign while a quorum was up, and, for each
// algorithm, a bar from each fault's heal to the next success (red when
// it broke the bound or never came). Its details say what the bar
// cannot: when the first sign was asked.
func availabilityAnnotations(a *availability.Report) []porcupine.Annotation {
	if a == nil {
		return nil
	}
	var ann []porcupine.Annotation
	for _, w := range a.NoQuorum {
		ann = append(ann, porcupine.Annotation{Tag: "no quorum", Start: w.Start, End: w.End,
			Description: "no quorum up", Details: fmt.Sprintf("no quorum up and connected for %s", seconds(w.Ms)),
			BackgroundColor: "#dddddd"})
	}
	for _, w := range a.All.Outages {
		ann = append(ann, porcupine.Annotation{Tag: "no sign", Start: w.Start, End: w.End,
			Description:     "no sign " + seconds(w.Ms),
			Details:         fmt.Sprintf("no successful sign from %s to %s while a quorum was up", at(w.Start), at(w.End)),
			BackgroundColor: "#ffe08a"})
	}
	bound := time.Duration(a.MaxRecovery * float64(time.Millisecond))
	for alg, m := range a.ByAlgorithm {
		for _, rec := range m.Recoveries {
			what := fmt.Sprintf("%s (%s) healed at %s", rec.Name, rec.Target, at(rec.Heal))
			if rec.From != rec.Heal {
				what += fmt.Sprintf(", a quorum up again at %s", at(rec.From))
			}
			if rec.Asked != rec.From {
				what += fmt.Sprintf(", the first %s sign after it asked at %s", alg, at(rec.Asked))
			}
			x := porcupine.Annotation{Tag: "recovery " + alg, Start: rec.From, BackgroundColor: "#cdeccd"}
			if rec.Recovered {
				x.End, x.Description = rec.Success, "+"+seconds(rec.Ms)
				x.Details = fmt.Sprintf("%s; next %s sign returned at %s", what, alg, at(rec.Success))
				if bound > 0 && time.Duration(rec.Success-rec.From) > bound {
					x.BackgroundColor = "#f6d5d5"
				}
			} else {
				x.End, x.Description = a.End, "no sign after the heal"
				x.Details = fmt.Sprintf("%s; no %s sign called after it succeeded", what, alg)
				x.BackgroundColor = "#f6d5d5"
			}
			ann = append(ann, x)
		}
	}
	return ann
}

func seconds(ms float64) string { return fmt.Sprintf("%.2fs", ms/1000) }

func at(ns int64) string { return fmt.Sprintf("%.1fs", float64(ns)/1e9) }

// failed renders a failure count: "12.5% of 40 (3 unknown, 2 unreached)".
func failed(f availability.Failures) string {
	return fmt.Sprintf("%.1f%% of %d (%d unknown, %d unreached)", 100*f.Fraction, f.Requests, f.Unknown, f.Unreached)
}
