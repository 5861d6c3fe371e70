package model

import "github.com/anishathalye/porcupine"

// Split rewrites each acknowledged Create and Rotate as the two state
// changes it spans: the key (or the new version) appears, generating, when
// the request is applied, and its key generation ends when every member
// stored its share, both at some point between the call and the return. As
// one step, a request returning the finished key would make a read that
// saw it still generating during the call look stale.
func Split(history []porcupine.Operation) []porcupine.Operation {
	out := make([]porcupine.Operation, 0, len(history))
	for _, op := range history {
		in, res := op.Input.(Input), op.Output.(Output)
		second := secondHalf(in.Kind)
		if second == "" || res.Status != OK {
			out = append(out, op)
			continue
		}
		reg := op
		reg.Output = Output{Status: OK, Error: res.Error}
		done := op
		done.Input = Input{Kind: second, Key: in.Key, RequestID: in.RequestID}
		done.Output = Output{Status: OK, Key: res.Key}
		out = append(out, reg, done)
	}
	return out
}

// secondHalf is the state change that ends a request of kind, or "" for a
// request that is one state change.
func secondHalf(kind Kind) Kind {
	switch kind {
	case Create:
		return Activate
	case Rotate:
		return Generated
	}
	return ""
}
