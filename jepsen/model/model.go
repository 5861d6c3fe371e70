package model

import (
	"fmt"
	"math"

	"github.com/anishathalye/porcupine"
)

// Keys is the porcupine model of the key state machine. Inputs are Input
// values, outputs Output values. It partitions histories by key name, which
// is exact for every operation on one key (create, get, handle, sign and
// the lifecycle changes: request ids are never shared across keys by a
// well-behaved client) and projects every
// List onto each key it could concern: a violation in any projection is a
// real violation, but a List that is wrong only as a whole (a mix of two
// moments) is not detected.
func Keys() porcupine.Model {
	return porcupine.Model{
		Partition: Partition,
		Init:      func() any { return initState() },
		Step: func(state, input, output any) (bool, any) {
			return step(state.(State), input.(Input), output.(Output))
		},
		Equal: func(a, b any) bool { return a.(State).equal(b.(State)) },
		DescribeOperation: func(input, output any) string {
			return fmt.Sprintf("%s → %s", input.(Input), output.(Output))
		},
		DescribeState: func(state any) string { return state.(State).String() },
		DescribeOperationMetadata: func(info any) string {
			if info == nil {
				return ""
			}
			return fmt.Sprint(info)
		},
	}
}

// Partition splits a history into one history per key. A List appears in
// the history of every key whose first operation was called before the List
// returned and of every key it listed, as a single-key observation; a List
// with an unknown outcome says nothing and is dropped.
func Partition(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	first := map[string]int64{}
	var order []string
	var lists []porcupine.Operation
	for _, op := range history {
		in := op.Input.(Input)
		if in.Kind == List && in.Key == "" {
			if op.Output.(Output).Status == OK {
				lists = append(lists, op)
			}
			continue
		}
		if _, seen := byKey[in.Key]; !seen {
			order = append(order, in.Key)
			first[in.Key] = math.MaxInt64
		}
		byKey[in.Key] = append(byKey[in.Key], op)
		first[in.Key] = min(first[in.Key], op.Call)
	}
	for _, op := range lists {
		out := op.Output.(Output)
		for _, v := range out.Keys {
			if _, seen := byKey[v.Name]; !seen {
				order = append(order, v.Name)
				first[v.Name] = math.MaxInt64
			}
		}
		for _, name := range order {
			v, listed := out.Lookup(name)
			if !listed && first[name] > op.Return {
				continue // nobody had asked for this key yet
			}
			p := op
			p.Input = Input{Kind: List, Key: name}
			if !listed {
				v = KeyView{Name: name}
			}
			p.Output = Output{Status: OK, Found: listed, Key: v}
			byKey[name] = append(byKey[name], p)
		}
	}
	out := make([][]porcupine.Operation, 0, len(order))
	for _, name := range order {
		out = append(out, byKey[name])
	}
	return out
}
