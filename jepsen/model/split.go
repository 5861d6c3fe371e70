package model

import "github.com/anishathalye/porcupine"

// SplitCreates rewrites each acknowledged Create as the two state changes it
// spans: the key appears (generating) when the create is applied, and turns
// active when every member stored its share, both at some point between the
// call and the return. As one step, a Create returning "active" would make
// a read that saw the key still generating during the call look stale.
func SplitCreates(history []porcupine.Operation) []porcupine.Operation {
	out := make([]porcupine.Operation, 0, len(history))
	for _, op := range history {
		in, res := op.Input.(Input), op.Output.(Output)
		if in.Kind != Create || res.Status != OK {
			out = append(out, op)
			continue
		}
		reg := op
		reg.Output = Output{Status: OK, Error: res.Error}
		act := op
		act.Input = Input{Kind: Activate, Key: in.Key, RequestID: in.RequestID}
		act.Output = Output{Status: OK, Key: res.Key}
		out = append(out, reg, act)
	}
	return out
}
