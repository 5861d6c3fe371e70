package commands

import "github.com/keyquorum/keyquorum/consensus/fsm/dedup"

// dedup looks a lifecycle request id up (package dedup). done is true
// when the id was seen: res is then the outcome to return, a duplicate or
// ErrRequestConflict.
func (f *Machine) dedup(id, op string, input [32]byte) (*dedup.Request, Result, bool) {
	r, err := f.st.Table.Lookup(id, op, input, f.st.Time, f.requestBounds())
	switch {
	case err != nil:
		return r, Result{Err: err}, true
	case r == nil:
		return nil, Result{}, false
	}
	res := Result{Duplicate: true, Version: r.Version}
	if k := f.st.Keys[r.Key]; k != nil {
		res.Key = k.Clone()
	}
	return r, res, true
}

// remember records a successful lifecycle request.
func (f *Machine) remember(index uint64, r *dedup.Request) {
	f.st.Table.Remember(r, index, f.st.Time, f.requestBounds())
}

// requestBounds and signBounds are the de-duplication bounds of the
// lifecycle requests and the signing records: their own counts, one age.
func (f *Machine) requestBounds() dedup.Bounds {
	return dedup.Bounds{Max: f.cfg.MaxRequestRecords, Age: f.limits().RequestRecordAge}
}

func (f *Machine) signBounds() dedup.Bounds {
	return dedup.Bounds{Max: f.cfg.MaxSignRecords, Age: f.limits().RequestRecordAge}
}
