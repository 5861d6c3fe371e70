package checker

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/keyquorum/keyquorum/jepsen/model"
)

// Assumptions checks what the linearizability check relies on, as etcd's
// validate does: a client id never has two operations in flight, an
// operation returns after it is called, and only unknown outcomes have an
// infinite return.
func Assumptions(history []porcupine.Operation) Check {
	c := Check{Name: "assumptions", Verdict: Valid, Checked: len(history)}
	byClient := map[int][]porcupine.Operation{}
	for _, op := range history {
		out := op.Output.(model.Output)
		if op.Return < op.Call {
			c.fail(Invalid, "client %d: %s returns before its call", op.ClientId, op.Input.(model.Input))
		}
		if (op.Return == math.MaxInt64) != (out.Status == model.Unknown) {
			c.fail(Invalid, "client %d: %s: infinite return iff unknown outcome", op.ClientId, op.Input.(model.Input))
		}
		byClient[op.ClientId] = append(byClient[op.ClientId], op)
	}
	for id, ops := range byClient {
		sort.Slice(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
		for i := 1; i < len(ops); i++ {
			if ops[i].Call <= ops[i-1].Return {
				c.fail(Invalid, "client %d has two operations in flight", id)
			}
		}
	}
	return c
}

// Linearizable checks the prepared history against model.Keys within
// timeout. Porcupine's Unknown (timed out) is Inconclusive, not a pass.
func Linearizable(history []porcupine.Operation, timeout time.Duration) (Check, porcupine.LinearizationInfo) {
	res, info := porcupine.CheckOperationsVerbose(model.Keys(), history, timeout)
	c := Check{Name: "linearizable", Verdict: Valid, Checked: len(history)}
	switch res {
	case porcupine.Illegal:
		c.fail(Invalid, "no linearization of the history fits the model; see history.html")
		for _, part := range model.Partition(history) {
			if porcupine.CheckOperationsTimeout(model.Keys(), part, timeout) == porcupine.Illegal {
				c.fail(Invalid, "key %s: %s", part[0].Input.(model.Input).Key, describe(part))
			}
		}
	case porcupine.Unknown:
		c.fail(Inconclusive, "porcupine timed out after %s", timeout)
	}
	return c, info
}

// describe renders a failing partition compactly: each operation with its
// client, times in milliseconds (∞ for unknown outcomes) and result.
func describe(part []porcupine.Operation) string {
	const maxOps = 24
	ops := slices.Clone(part)
	sort.Slice(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
	var b strings.Builder
	for i, op := range ops {
		if i == maxOps {
			fmt.Fprintf(&b, " … %d more", len(ops)-maxOps)
			break
		}
		ret := "∞"
		if op.Return != math.MaxInt64 {
			ret = fmt.Sprintf("%.0f", float64(op.Return)/1e6)
		}
		fmt.Fprintf(&b, " [c%d %.0f-%s %s → %s]", op.ClientId, float64(op.Call)/1e6, ret,
			op.Input.(model.Input), op.Output.(model.Output))
	}
	return b.String()
}
