package fsm_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/signs"
	"pgregory.net/rapid"
)

// The property test below drives one FSM with random lifecycle sequences
// and predicts every result with lifeModel, a reference written from the
// rules rather than from the code. Times are small integers: the config
// scales its bounds to match.

func lpConfig() fsm.FSMConfig {
	cfg := fsm.DefaultFSMConfig()
	cfg.MaxPendingSigns, cfg.MaxSignRecords = 3, 3
	cfg.MaxRequestRecords, cfg.RequestRecordAge = 8, 300
	cfg.MaxHandles, cfg.MaxHandleTTL = 3, 1000
	cfg.MinDestroyDelay = 20
	return cfg
}

var (
	lpKeys      = []string{"ka", "kb"}
	lpHandleIDs = []string{"h1", "h2", "h3", "h4", "h5"}
	lpSignIDs   = []string{"s1", "s2", "s3", "s4", "s5"}
)

// lpPurposes are the purposes each key is created with.
func lpPurposes(key string) []string {
	if key == "kb" {
		return []string{"backup", "sign"}
	}
	return nil
}

func lpToken(handleID string) []byte { return []byte("tok-" + handleID) }

// lpDigest is message n of a request id: n 0 is its usual one, so repeats
// are duplicates; n 1 makes a conflict.
func lpDigest(id string, n int) []byte { return digestOf(fmt.Sprintf("%s/%d", id, n)) }

type lmVersion struct {
	state     fsm.KeyState
	confirmed int
	destroyAt int64
	scheduled bool // destruction requested
	executed  bool
}

type lmKey struct {
	createID           string
	deletion           bool
	purposes           []string
	versions           []*lmVersion
	primary            uint32
	minSign, minVerify uint32
	dualVersion        uint32 // 0: no window
	dualUntil          int64
}

func (k *lmKey) version(n uint32) *lmVersion {
	if n == 0 || int(n) > len(k.versions) {
		return nil
	}
	return k.versions[n-1]
}

type lmHandle struct {
	key, purpose  string
	expires       int64
	maxUses, uses uint32
	revoked       bool
}

type lmRequest struct {
	op, input string
	version   uint32
	handle    string
	time      int64
}

type lmSign struct {
	key          string
	version      uint32
	digest       []byte
	state        fsm.SignState
	parent, dual string
	time         int64
	ended        int64 // when it ended: the de-duplication age counts from it
	// handle is the handle the request was made under and proof the
	// token hash it presented, which a retry must present again.
	handle string
	proof  [32]byte
}

// lmOut is the model's prediction for one command.
type lmOut struct {
	err     error
	reason  string // a word the error must contain, when it matters
	dup     bool
	version uint32   // the version a change acted on or a sign uses
	dual    string   // the companion a sign request creates
	handle  string   // the handle an issue returns, "" for none
	ended   []string // the requests a revocation failed
	// note labels a success worth counting: a companion kept running, a
	// policy that cancelled destructions.
	note string
}

type lifeModel struct {
	cfg       fsm.FSMConfig
	now       int64
	keys      map[string]*lmKey
	handles   map[string]*lmHandle
	reqs      map[string]*lmRequest
	reqOrder  []string
	signs     map[string]*lmSign
	signOrder []string
	pending   int
	// evicted counts forgotten records by cause, to show the bounds bite.
	evicted map[string]int
}

func newLifeModel(cfg fsm.FSMConfig) *lifeModel {
	return &lifeModel{cfg: cfg, keys: map[string]*lmKey{}, handles: map[string]*lmHandle{}, reqs: map[string]*lmRequest{},
		signs: map[string]*lmSign{}, evicted: map[string]int{}}
}

func (m *lifeModel) tick(t int64) { m.now = max(m.now, t) }

// seen reports the stored outcome of a lifecycle request id: a duplicate,
// a conflict, or nothing when the id is new. A record past the
// de-duplication age counts as absent, trimmed or not, and is dropped.
func (m *lifeModel) seen(id, op, input string) (*lmRequest, lmOut, bool) {
	r, ok := m.reqs[id]
	if ok && m.expired(r.time) {
		m.evicted["request record expired on lookup"]++
		delete(m.reqs, id)
		m.reqOrder = slices.DeleteFunc(m.reqOrder, func(o string) bool { return o == id })
		ok = false
	}
	switch {
	case !ok:
		return nil, lmOut{}, false
	case r.op != op || r.input != input:
		return r, lmOut{err: fsm.ErrRequestConflict}, true
	}
	return r, lmOut{dup: true, version: r.version}, true
}

// expired reports whether a record made at t is past the de-duplication
// age at the model's time.
func (m *lifeModel) expired(t int64) bool { return m.now-t >= int64(m.cfg.RequestRecordAge) }

// remember stores a successful request; the table drops its oldest
// records beyond the count bound and those older than the age bound. The
// age bound is also applied on lookup (see seen), so a record the table
// still holds may already count as absent.
func (m *lifeModel) remember(id string, r *lmRequest) {
	r.time = m.now
	m.reqs[id] = r
	m.reqOrder = evictOldest(m, "request", append(m.reqOrder, id), m.reqs, m.cfg.MaxRequestRecords,
		func(r *lmRequest) int64 { return r.time })
}

// evictOldest drops the oldest records of table (order lists their ids,
// oldest first) while it holds more than maxRecords or the oldest is
// past the age bound since its time at, counting each by cause, and
// returns what is left of order.
func evictOldest[R any](m *lifeModel, table string, order []string, records map[string]R, maxRecords int, at func(R) int64) []string {
	for len(order) > 0 {
		overCount := len(order) > maxRecords
		if !overCount && !m.expired(at(records[order[0]])) {
			break
		}
		m.evicted[evictionCause(table, overCount)]++
		delete(records, order[0])
		order = order[1:]
	}
	return order
}

func evictionCause(table string, overCount bool) string {
	if overCount {
		return "evicted " + table + " record by count"
	}
	return "evicted " + table + " record by age"
}

func (m *lifeModel) create(c fsm.CreateKey) lmOut {
	m.tick(c.Time)
	if k, ok := m.keys[c.Name]; ok {
		if k.createID == c.RequestID && k.deletion == c.DeletionAllowed {
			return lmOut{dup: true}
		}
		return lmOut{err: fsm.ErrKeyExists}
	}
	purposes := slices.Sorted(slices.Values(c.Purposes))
	if len(purposes) == 0 {
		purposes = []string{fsm.DefaultPurpose}
	}
	m.keys[c.Name] = &lmKey{createID: c.RequestID, deletion: c.DeletionAllowed, purposes: purposes,
		versions: []*lmVersion{{state: fsm.KeyGenerating}}}
	return lmOut{}
}

func (m *lifeModel) generating(key string, n uint32) (*lmKey, *lmVersion, error) {
	k := m.keys[key]
	if k == nil {
		return nil, nil, fsm.ErrUnknownKey
	}
	v := k.version(n)
	if v == nil || v.state != fsm.KeyGenerating {
		return nil, nil, fsm.ErrStale
	}
	return k, v, nil
}

// share predicts one member's ShareStored; members report once each.
func (m *lifeModel) share(c fsm.ShareStored) lmOut {
	k, v, err := m.generating(c.Key, c.Version)
	if err != nil {
		return lmOut{err: err}
	}
	v.confirmed++
	if v.confirmed == 3 {
		v.state = fsm.KeyStaged
		if c.Version == 1 && k.primary == 0 {
			v.state, k.primary = fsm.KeyActive, 1
		}
	}
	return lmOut{version: c.Version}
}

func (m *lifeModel) keygenFailed(c fsm.KeygenFailed) lmOut {
	_, v, err := m.generating(c.Key, c.Version)
	if err != nil {
		return lmOut{err: err}
	}
	v.state = fsm.KeyFailed
	return lmOut{version: c.Version}
}

func canSign(s fsm.KeyState) bool { return s == fsm.KeyActive || s == fsm.KeyStaged }

// signable reports why version n of k may not sign, or nil.
func (k *lmKey) signable(n uint32) error {
	v := k.version(n)
	switch {
	case v == nil:
		return fsm.ErrUnknownVersion
	case !canSign(v.state), n < k.minSign:
		return fsm.ErrVersionUnusable
	}
	return nil
}

// verifiable reports why signatures by version n of k do not verify.
func (k *lmKey) verifiable(n uint32) error {
	v := k.version(n)
	switch {
	case v == nil:
		return fsm.ErrUnknownVersion
	case v.state == fsm.KeyRevoked, v.state == fsm.KeyGenerating, v.state == fsm.KeyFailed, n < k.minVerify:
		return fsm.ErrVersionUnusable
	}
	return nil
}

func opt(p *uint32) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

func changeModelInput(c fsm.ChangeKey) string {
	del := "unset"
	if c.DeletionAllowed != nil {
		del = fmt.Sprint(*c.DeletionAllowed)
	}
	return fmt.Sprintf("%s|%s|%d|%d|%s|%s|%s|%d", c.Op, c.Key, c.Version, c.DualSign, opt(c.MinSignVersion), opt(c.MinVerifyVersion), del, c.Delay)
}

func (m *lifeModel) change(c fsm.ChangeKey) lmOut {
	m.tick(c.Time)
	input := changeModelInput(c)
	if _, out, ok := m.seen(c.RequestID, "change", input); ok {
		return out
	}
	k := m.keys[c.Key]
	if k == nil {
		return lmOut{err: fsm.ErrUnknownKey}
	}
	var (
		n     uint32
		ended []string
		note  string
		err   error
	)
	switch c.Op {
	case fsm.OpRotate:
		n, err = m.rotate(k, c)
	case fsm.OpPromote:
		n, err = m.promote(k, c)
	case fsm.OpRollback:
		n, err = m.rollback(k, c)
	case fsm.OpRetire:
		n, err = m.retire(k, c)
	case fsm.OpRevoke:
		n, ended, err = m.revoke(c.Key, k, c)
	case fsm.OpPolicy:
		note, err = m.policy(k, c)
	case fsm.OpDestroy:
		n, err = m.destroy(k, c)
	case fsm.OpCancelDestroy:
		n, err = m.cancel(k, c)
	}
	if err != nil {
		return lmOut{err: err}
	}
	m.remember(c.RequestID, &lmRequest{op: "change", input: input, version: n})
	return lmOut{version: n, ended: ended, note: note}
}

func (m *lifeModel) rotate(k *lmKey, c fsm.ChangeKey) (uint32, error) {
	switch {
	case c.Version != 0:
		return 0, fsm.ErrInvalidCommand
	case k.versions[len(k.versions)-1].state == fsm.KeyGenerating:
		return 0, fsm.ErrBadTransition
	}
	k.versions = append(k.versions, &lmVersion{state: fsm.KeyGenerating})
	return uint32(len(k.versions)), nil
}

func (m *lifeModel) promote(k *lmKey, c fsm.ChangeKey) (uint32, error) {
	n := c.Version
	if n == 0 {
		for i := len(k.versions); i >= 1 && n == 0; i-- {
			if k.versions[i-1].state == fsm.KeyStaged {
				n = uint32(i)
			}
		}
	}
	v := k.version(n)
	switch {
	case v == nil:
		return 0, fsm.ErrUnknownVersion
	case n == k.primary, !canSign(v.state), n < k.minSign:
		return 0, fsm.ErrBadTransition
	case c.DualSign < 0:
		return 0, fsm.ErrInvalidCommand
	}
	old := k.primary
	v.state, k.primary, k.dualVersion = fsm.KeyActive, n, 0
	if c.DualSign > 0 && old != 0 && k.signable(old) == nil {
		k.dualVersion, k.dualUntil = old, m.now+c.DualSign
	}
	return n, nil
}

func (m *lifeModel) rollback(k *lmKey, c fsm.ChangeKey) (uint32, error) {
	n := c.Version
	if n == 0 {
		for i := uint32(1); i < k.primary; i++ {
			if k.version(i).state == fsm.KeyActive {
				n = i
			}
		}
		if n == 0 {
			return 0, fsm.ErrBadTransition
		}
	}
	v := k.version(n)
	switch {
	case v == nil:
		return 0, fsm.ErrUnknownVersion
	case n >= k.primary, v.state != fsm.KeyActive, n < k.minSign:
		return 0, fsm.ErrBadTransition
	}
	k.primary, k.dualVersion = n, 0
	return n, nil
}

// target is the version a retire or revoke names: the primary by default.
func target(k *lmKey, n uint32) (uint32, *lmVersion, error) {
	if n == 0 {
		n = k.primary
	}
	v := k.version(n)
	if v == nil {
		return 0, nil, fsm.ErrUnknownVersion
	}
	return n, v, nil
}

func (m *lifeModel) retire(k *lmKey, c fsm.ChangeKey) (uint32, error) {
	n, v, err := target(k, c.Version)
	if err != nil {
		return 0, err
	}
	if !canSign(v.state) {
		return 0, fsm.ErrBadTransition
	}
	v.state = fsm.KeyRetired
	if k.dualVersion == n {
		k.dualVersion = 0
	}
	return n, nil
}

// revoke also fails the version's running requests, in id order, and
// returns them.
func (m *lifeModel) revoke(name string, k *lmKey, c fsm.ChangeKey) (uint32, []string, error) {
	n, v, err := target(k, c.Version)
	if err != nil {
		return 0, nil, err
	}
	if !canSign(v.state) && v.state != fsm.KeyRetired {
		return 0, nil, fsm.ErrBadTransition
	}
	v.state = fsm.KeyRevoked
	if k.dualVersion == n {
		k.dualVersion = 0
	}
	var ended []string
	for id, s := range m.signs {
		if s.state == fsm.SignStatePending && s.key == name && s.version == n {
			ended = append(ended, id)
		}
	}
	slices.Sort(ended)
	for _, id := range ended {
		m.finish(id, fsm.SignStateFailed)
	}
	return n, ended, nil
}

// policy sets the floors and deletion_allowed; with deletion off, every
// destruction scheduled and not yet executed is cancelled.
func (m *lifeModel) policy(k *lmKey, c fsm.ChangeKey) (string, error) {
	minSign, minVerify := k.minSign, k.minVerify
	if c.MinSignVersion != nil {
		minSign = *c.MinSignVersion
	}
	if c.MinVerifyVersion != nil {
		minVerify = *c.MinVerifyVersion
	}
	newest := uint32(len(k.versions))
	switch {
	case c.Version != 0, minSign > newest, minVerify > newest, minVerify > minSign:
		return "", fsm.ErrInvalidCommand
	case k.primary != 0 && minSign > k.primary:
		return "", fsm.ErrBadTransition
	}
	k.minSign, k.minVerify = minSign, minVerify
	if c.DeletionAllowed != nil {
		k.deletion = *c.DeletionAllowed
	}
	if k.dualVersion != 0 && k.dualVersion < minSign {
		k.dualVersion = 0
	}
	note := ""
	for _, v := range k.versions {
		if !k.deletion && v.scheduled && !v.executed {
			v.scheduled, v.destroyAt = false, 0
			note = "cancelled scheduled destruction"
		}
	}
	return note, nil
}

func (m *lifeModel) destroy(k *lmKey, c fsm.ChangeKey) (uint32, error) {
	v := k.version(c.Version)
	switch {
	case v == nil:
		return 0, fsm.ErrUnknownVersion
	case !k.deletion, v.state != fsm.KeyRetired && v.state != fsm.KeyRevoked && v.state != fsm.KeyFailed, v.scheduled:
		return 0, fsm.ErrBadTransition
	case c.Delay < int64(m.cfg.MinDestroyDelay):
		return 0, fsm.ErrInvalidCommand
	}
	v.scheduled, v.destroyAt = true, m.now+c.Delay
	return c.Version, nil
}

func (m *lifeModel) cancel(k *lmKey, c fsm.ChangeKey) (uint32, error) {
	v := k.version(c.Version)
	switch {
	case v == nil:
		return 0, fsm.ErrUnknownVersion
	case !v.scheduled, v.executed:
		return 0, fsm.ErrBadTransition
	}
	v.scheduled, v.destroyAt = false, 0
	return c.Version, nil
}

func (m *lifeModel) destroyDue(c fsm.DestroyDue) lmOut {
	m.tick(c.Time)
	k := m.keys[c.Key]
	if k == nil {
		return lmOut{err: fsm.ErrUnknownKey}
	}
	v := k.version(c.Version)
	switch {
	case v == nil || !v.scheduled || v.executed:
		return lmOut{err: fsm.ErrStale}
	case m.now < v.destroyAt:
		return lmOut{err: fsm.ErrBadTransition}
	}
	v.state, v.executed = fsm.KeyDestroyed, true
	return lmOut{version: c.Version}
}

func (m *lifeModel) issue(c fsm.IssueHandle) lmOut {
	m.tick(c.Time)
	input := fmt.Sprintf("%s|%s|%d|%d", c.Key, c.Purpose, c.TTL, c.MaxUses)
	if r, out, ok := m.seen(c.RequestID, "issue", input); ok {
		// A retry returns the handle first issued, while it lasts.
		if out.err == nil && m.handles[r.handle] != nil {
			out.handle = r.handle
		}
		return out
	}
	k := m.keys[c.Key]
	switch {
	case k == nil:
		return lmOut{err: fsm.ErrUnknownKey}
	case !slices.Contains(k.purposes, c.Purpose), c.TTL <= 0 || c.TTL > int64(m.cfg.MaxHandleTTL):
		return lmOut{err: fsm.ErrInvalidCommand}
	case m.handles[c.HandleID] != nil:
		return lmOut{err: fsm.ErrHandleExists}
	}
	if len(m.handles) >= m.cfg.MaxHandles {
		for id, h := range m.handles {
			if m.now >= h.expires {
				delete(m.handles, id)
			}
		}
		if len(m.handles) >= m.cfg.MaxHandles {
			return lmOut{err: fsm.ErrTooManyHandles}
		}
	}
	m.handles[c.HandleID] = &lmHandle{key: c.Key, purpose: c.Purpose, expires: m.now + c.TTL, maxUses: c.MaxUses}
	m.remember(c.RequestID, &lmRequest{op: "issue", input: input, handle: c.HandleID})
	return lmOut{handle: c.HandleID}
}

func (m *lifeModel) revokeHandle(c fsm.RevokeHandle) lmOut {
	m.tick(c.Time)
	if _, out, ok := m.seen(c.RequestID, "revoke", c.HandleID); ok {
		return out
	}
	h := m.handles[c.HandleID]
	if h == nil {
		return lmOut{err: fsm.ErrHandleDenied}
	}
	h.revoked = true
	m.remember(c.RequestID, &lmRequest{op: "revoke", input: c.HandleID})
	return lmOut{}
}

// grant reports why the handle c names does not let it sign, or "".
func (m *lifeModel) grant(c fsm.SignRequested) (*lmHandle, string) {
	h := m.handles[c.Handle]
	switch {
	case h == nil || c.HandleProof != fsm.HandleTokenHash(lpToken(c.Handle)):
		return nil, "not recognised"
	case h.revoked:
		return nil, "revoked"
	case m.now >= h.expires:
		return nil, "expired"
	case h.maxUses > 0 && h.uses >= h.maxUses:
		return nil, "used up"
	case h.key != c.Key:
		return nil, "for key"
	case c.Purpose != "" && c.Purpose != h.purpose:
		return nil, "purpose"
	}
	return h, ""
}

// dualOf is the version that co-signs a request for version requested
// (0: the primary), or 0.
func (m *lifeModel) dualOf(k *lmKey, requested uint32) uint32 {
	if k.dualVersion == 0 || (requested != 0 && requested != k.primary) || m.now >= k.dualUntil || k.signable(k.dualVersion) != nil {
		return 0
	}
	return k.dualVersion
}

// retryDenied is what a retry under another handle than its request's
// is told.
const retryDenied = "not the handle the request was made with"

func (m *lifeModel) sign(c fsm.SignRequested) lmOut {
	m.tick(c.Time)
	if s, ok := m.signs[c.RequestID]; ok && s.state != fsm.SignStatePending && m.expired(s.ended) {
		// Past the de-duplication age a finished record counts as absent:
		// the request is new. A pending one never expires.
		m.evicted["sign record expired on lookup"]++
		m.forget(c.RequestID)
	}
	rerun := false
	if s, ok := m.signs[c.RequestID]; ok {
		switch {
		case s.key != c.Key || !bytes.Equal(s.digest, c.Digest) || s.parent != "":
			return lmOut{err: fsm.ErrRequestConflict}
		case s.proof != c.HandleProof:
			return lmOut{err: fsm.ErrHandleDenied, reason: retryDenied}
		case s.state != fsm.SignStateFailed:
			return lmOut{dup: true, version: s.version, dual: s.dual}
		}
		rerun = true
	}
	h, why := m.grant(c)
	if why != "" {
		return lmOut{err: fsm.ErrHandleDenied, reason: why}
	}
	k := m.keys[c.Key]
	if k == nil {
		return lmOut{err: fsm.ErrUnknownKey}
	}
	if k.primary == 0 {
		return lmOut{err: fsm.ErrKeyNotActive}
	}
	n := c.Version
	if n == 0 {
		n = k.primary
	}
	if err := k.signable(n); err != nil {
		return lmOut{err: err}
	}
	dual := m.dualOf(k, c.Version)
	dualID := fmt.Sprintf("%s#v%d", c.RequestID, dual)
	// A companion still running from an earlier request under this id
	// (failed, or finished and gone) is kept, so it must be the same
	// request: same key, same input, same handle.
	running := m.signs[dualID]
	if running != nil && running.state != fsm.SignStatePending {
		running = nil
	}
	if dual != 0 && running != nil && (running.key != c.Key || !bytes.Equal(running.digest, c.Digest)) {
		return lmOut{err: fsm.ErrRequestConflict, reason: "companion"}
	}
	if dual != 0 && running != nil && running.proof != c.HandleProof {
		return lmOut{err: fsm.ErrHandleDenied, reason: retryDenied}
	}
	need := 1
	if dual != 0 {
		need = 2 // as implemented, even when the running companion is kept
	}
	if m.pending+need > m.cfg.MaxPendingSigns {
		return lmOut{err: fsm.ErrTooManyPending}
	}
	h.uses++
	if rerun {
		m.forget(c.RequestID)
	}
	s := &lmSign{key: c.Key, version: n, digest: c.Digest, state: fsm.SignStatePending, time: m.now, handle: c.Handle, proof: c.HandleProof}
	m.signs[c.RequestID] = s
	m.pending++
	note := ""
	if rerun {
		note = "rerun of failed request"
	}
	if dual != 0 {
		s.dual = dualID
		if running != nil {
			note = "kept running companion"
		} else {
			m.forget(dualID)
			m.signs[dualID] = &lmSign{key: c.Key, version: dual, digest: c.Digest, state: fsm.SignStatePending, parent: c.RequestID,
				time: m.now, handle: c.Handle, proof: c.HandleProof}
			m.pending++
		}
	}
	return lmOut{version: n, dual: s.dual, note: note}
}

// forget drops a finished request, and its companion unless that still
// runs, so the id starts afresh.
func (m *lifeModel) forget(id string) {
	s := m.signs[id]
	if s == nil {
		return
	}
	ids := []string{id}
	if d := s.dual; d != "" && m.signs[d] != nil && m.signs[d].state != fsm.SignStatePending {
		ids = append(ids, d)
	}
	for _, id := range ids {
		delete(m.signs, id)
		if i := slices.Index(m.signOrder, id); i >= 0 {
			m.signOrder = slices.Delete(m.signOrder, i, i+1)
		}
	}
}

func (m *lifeModel) finish(id string, st fsm.SignState) {
	m.signs[id].state, m.signs[id].ended = st, m.now
	m.pending--
	m.signOrder = evictOldest(m, "sign", append(m.signOrder, id), m.signs, m.cfg.MaxSignRecords,
		func(s *lmSign) int64 { return s.ended })
}

// complete predicts a SignCompleted whose signature is by version by.
func (m *lifeModel) complete(id string, by uint32) lmOut {
	s := m.signs[id]
	switch {
	case s == nil:
		return lmOut{err: fsm.ErrStale}
	case s.state != fsm.SignStatePending:
		return lmOut{dup: true, version: s.version}
	case by != s.version:
		return lmOut{err: fsm.ErrBadSignature}
	}
	m.finish(id, fsm.SignStateCompleted)
	return lmOut{version: s.version}
}

func (m *lifeModel) fail(id string) lmOut {
	s := m.signs[id]
	if s == nil || s.state != fsm.SignStatePending {
		return lmOut{err: fsm.ErrStale}
	}
	m.finish(id, fsm.SignStateFailed)
	return lmOut{version: s.version}
}

// lpRun applies random commands to one FSM and checks each result and
// the state after it against the model.
type lpRun struct {
	t       *rapid.T
	cfg     fsm.FSMConfig
	f       *fsm.FSM
	idx     uint64
	m       *lifeModel
	clock   int64                  // the leader's clock, which may lag replicated time
	used    []string               // lifecycle request ids used so far
	sent    map[string]fsm.Command // the first command sent under each id
	done    map[string][]string    // by kind, ids whose first request succeeded
	nextReq int
	seen    map[string]int
}

func (p *lpRun) apply(cmd fsm.Command) fsm.Result {
	p.t.Helper()
	data, err := fsm.Encode(cmd)
	if err != nil {
		p.t.Fatalf("Encode: %v", err)
	}
	p.idx++
	return p.f.Apply(&raft.Log{Index: p.idx, Type: raft.LogCommand, Data: data}).(fsm.Result)
}

// expect compares a result with the model's prediction and counts it
// under label.
func (p *lpRun) expect(label string, cmd fsm.Command, res fsm.Result, want lmOut) {
	p.t.Helper()
	fail := func(format string, args ...any) {
		p.t.Fatalf("index %d %T %+v: %s", p.idx, cmd, cmd, fmt.Sprintf(format, args...))
	}
	if want.err != nil {
		if !errors.Is(res.Err, want.err) || res.Duplicate || res.Sign != nil {
			fail("got err=%v dup=%v sign=%+v, model wants %v", res.Err, res.Duplicate, res.Sign, want.err)
		}
		if !strings.Contains(res.Err.Error(), want.reason) {
			fail("error %q, model wants it to say %q", res.Err, want.reason)
		}
		// The reasons a request id's record refuses a sign request must
		// not be mistaken for those of a new request, nor the other way.
		if _, ok := cmd.(fsm.SignRequested); ok {
			for _, r := range []string{retryDenied, "companion"} {
				if strings.Contains(res.Err.Error(), r) != (want.reason == r) {
					fail("error %q, model wants reason %q", res.Err, want.reason)
				}
			}
		}
		p.seen[fmt.Sprintf("%s: %v %s", label, want.err, want.reason)]++
		return
	}
	if res.Err != nil || res.Duplicate != want.dup {
		fail("got err=%v dup=%v, model wants success with dup=%v", res.Err, res.Duplicate, want.dup)
	}
	switch c := cmd.(type) {
	case fsm.SignRequested:
		if res.Sign == nil || res.Sign.Version != want.version || res.Sign.Dual != want.dual || res.Sign.RequestID != c.RequestID ||
			res.Sign.HandleProof != c.HandleProof {
			fail("sign record %+v, model wants v%d dual %q under proof %x", res.Sign, want.version, want.dual, c.HandleProof)
		}
		if want.dual != "" && !want.dup {
			p.seen[label+": dual-signed"]++
		}
	case fsm.SignCompleted:
		if res.Sign == nil || res.Sign.Version != want.version {
			fail("sign record %+v, model wants v%d", res.Sign, want.version)
		}
	case fsm.ChangeKey:
		if res.Version != want.version || !slices.Equal(res.Ended, want.ended) {
			fail("version %d ended %v, model wants %d %v", res.Version, res.Ended, want.version, want.ended)
		}
		if len(want.ended) > 0 {
			p.seen[label+": ended running requests"]++
		}
	case fsm.DestroyDue:
		if res.Version != want.version {
			fail("version %d, model wants %d", res.Version, want.version)
		}
	case fsm.IssueHandle:
		if (res.Handle == nil) != (want.handle == "") || (res.Handle != nil && res.Handle.ID != want.handle) {
			fail("handle %+v, model wants %q", res.Handle, want.handle)
		}
	}
	p.seen[fmt.Sprintf("%s: ok dup=%v", label, want.dup)]++
	if want.note != "" {
		p.seen[label+": "+want.note]++
	}
}

// stamp is the time the leader puts on a command: usually a little later
// than the last, sometimes earlier (a new leader with a slower clock).
func (p *lpRun) stamp() int64 {
	p.clock += rapid.SampledFrom([]int64{0, 1, 2, 5, 10, 20, 60, -15}).Draw(p.t, "step")
	return p.clock
}

// retryStamp is the time on a client's retry of a lifecycle request: soon,
// or sometimes once the de-duplication age has passed, when the retry is
// a new request. (Sign retries meet the age through the "wait" action.)
func (p *lpRun) retryStamp() int64 {
	if rapid.IntRange(0, 23).Draw(p.t, "late") == 0 {
		p.clock += int64(p.cfg.RequestRecordAge)
	}
	return p.stamp()
}

// requestID draws the id of a lifecycle request of a kind: usually new;
// sometimes a recent request of that kind that succeeded, returned to be
// sent again as a client's retry; sometimes any id used before, for new
// input.
func (p *lpRun) requestID(kind string) (string, fsm.Command) {
	switch rapid.IntRange(0, 5).Draw(p.t, "idKind") {
	case 0:
		if done := p.done[kind]; len(done) > 0 {
			id := rapid.SampledFrom(done[max(0, len(done)-3):]).Draw(p.t, "retryID")
			return id, p.sent[id]
		}
	case 1:
		if len(p.used) > 0 {
			return rapid.SampledFrom(p.used).Draw(p.t, "usedID"), nil
		}
	}
	p.nextReq++
	id := fmt.Sprintf("r%d", p.nextReq)
	p.used = append(p.used, id)
	return id, nil
}

// retryOr draws a request id of a kind (see requestID) and returns it
// with the command to send under it: the client's retry of the command
// first sent under that id, stamped anew, or else what fresh makes.
func retryOr[C fsm.Command, P interface {
	*C
	Stamp(int64)
}](p *lpRun, kind string, fresh func(id string) C) (string, C) {
	id, replay := p.requestID(kind)
	if c, ok := replay.(C); ok {
		P(&c).Stamp(p.retryStamp())
		return id, c
	}
	return id, fresh(id)
}

// sending notes the first command sent under a request id, and the ids
// whose first request succeeded, for retries.
func (p *lpRun) sending(kind, id string, c fsm.Command, want lmOut) {
	if _, ok := p.sent[id]; ok {
		return
	}
	p.sent[id] = c
	if want.err == nil && !want.dup {
		p.done[kind] = append(p.done[kind], id)
	}
}

func (p *lpRun) latest(key string) uint32 {
	if k := p.m.keys[key]; k != nil {
		return uint32(len(k.versions))
	}
	return 1
}

// versionOf draws a version of key near the interesting ones: 0 (the op's
// default), an existing one or one past the newest.
func (p *lpRun) versionOf(key string, zeroWeight int) uint32 {
	if rapid.IntRange(0, 9).Draw(p.t, "useDefault") < zeroWeight {
		return 0
	}
	return uint32(rapid.IntRange(1, int(p.latest(key))+1).Draw(p.t, "version"))
}

// versionWhere draws a version of key that satisfies ok, when it has one
// and the draw says so, or else any version.
func (p *lpRun) versionWhere(key string, ok func(*lmVersion) bool) uint32 {
	var fit []uint32
	if k := p.m.keys[key]; k != nil {
		for i, v := range k.versions {
			if ok(v) {
				fit = append(fit, uint32(i+1))
			}
		}
	}
	if len(fit) > 0 && rapid.IntRange(0, 3).Draw(p.t, "fitting") > 0 {
		return rapid.SampledFrom(fit).Draw(p.t, "version")
	}
	return p.versionOf(key, 1)
}

func (p *lpRun) change(op fsm.KeyOp) {
	t := p.t
	id, c := retryOr(p, "change", func(id string) fsm.ChangeKey {
		key := rapid.SampledFrom(lpKeys).Draw(t, "key")
		if op == fsm.OpPolicy && rapid.Bool().Draw(t, "scheduledKey") {
			for _, name := range lpKeys {
				if p.scheduled(name) {
					key = name
				}
			}
		}
		c := fsm.ChangeKey{RequestID: id, Op: op, Key: key, Actor: "admin", Time: p.stamp()}
		switch op {
		case fsm.OpRotate:
			c.Version = p.versionOf(key, 9)
		case fsm.OpPromote:
			c.Version = p.versionOf(key, 5)
			c.DualSign = rapid.SampledFrom([]int64{0, 100, 400, 400, -1}).Draw(t, "dual")
		case fsm.OpPolicy:
			floor := func(name string) *uint32 {
				if n := rapid.IntRange(-1, int(p.latest(key))+1).Draw(t, name); n >= 0 {
					return new(uint32(n))
				}
				return nil
			}
			c.MinSignVersion, c.MinVerifyVersion = floor("minSign"), floor("minVerify")
			if rapid.IntRange(0, 2).Draw(t, "setDeletion") == 0 {
				c.DeletionAllowed = new(rapid.Bool().Draw(t, "deletion"))
			}
			// Turning deletion off while a destruction waits cancels it.
			if p.scheduled(key) && rapid.Bool().Draw(t, "deletionOff") {
				c.DeletionAllowed = new(false)
			}
		case fsm.OpDestroy:
			c.Version = p.versionWhere(key, func(v *lmVersion) bool {
				return v.state == fsm.KeyRetired || v.state == fsm.KeyRevoked || v.state == fsm.KeyFailed
			})
			c.Delay = rapid.SampledFrom([]int64{10, 20, 60, 60}).Draw(t, "delay")
		case fsm.OpCancelDestroy:
			c.Version = p.versionWhere(key, func(v *lmVersion) bool { return v.scheduled })
		default:
			c.Version = p.versionOf(key, 4)
		}
		return c
	})
	want := p.m.change(c)
	p.sending("change", id, c, want)
	p.expect(string(c.Op), c, p.apply(c), want)
}

// scheduled reports whether a version of key waits for its destruction.
func (p *lpRun) scheduled(key string) bool {
	if k := p.m.keys[key]; k != nil {
		for _, v := range k.versions {
			if v.scheduled && !v.executed {
				return true
			}
		}
	}
	return false
}

func (p *lpRun) issueHandle() {
	t := p.t
	id, c := retryOr(p, "issue", func(id string) fsm.IssueHandle {
		// Mostly a handle id not in use, so the table fills up.
		h := rapid.SampledFrom(lpHandleIDs).Draw(t, "handle")
		var free []string
		for _, id := range lpHandleIDs {
			if p.m.handles[id] == nil {
				free = append(free, id)
			}
		}
		if len(free) > 0 && rapid.IntRange(0, 3).Draw(t, "freeHandle") > 0 {
			h = rapid.SampledFrom(free).Draw(t, "freeID")
		}
		return fsm.IssueHandle{RequestID: id, HandleID: h, TokenHash: fsm.HandleTokenHash(lpToken(h)),
			Key:     rapid.SampledFrom([]string{"ka", "ka", "kb", "kb", "kz"}).Draw(t, "key"),
			Purpose: rapid.SampledFrom([]string{"sign", "sign", "sign", "backup", "other"}).Draw(t, "purpose"),
			TTL:     rapid.SampledFrom([]int64{100, 400, 400, 1000, 1000, 1001, 0}).Draw(t, "ttl"),
			MaxUses: rapid.SampledFrom([]uint32{0, 0, 1, 2}).Draw(t, "maxUses"),
			Actor:   "admin", Time: p.stamp()}
	})
	want := p.m.issue(c)
	p.sending("issue", id, c, want)
	p.expect("issue", c, p.apply(c), want)
}

func (p *lpRun) revokeHandle() {
	id, c := retryOr(p, "revoke", func(id string) fsm.RevokeHandle {
		return fsm.RevokeHandle{RequestID: id, HandleID: rapid.SampledFrom(lpHandleIDs).Draw(p.t, "handle"), Actor: "admin", Time: p.stamp()}
	})
	want := p.m.revokeHandle(c)
	p.sending("revoke", id, c, want)
	p.expect("revoke handle", c, p.apply(c), want)
}

// signRequest draws a client request: usually under a handle that exists,
// sometimes under one that does not or with a wrong token or purpose. An
// id the model holds a record for is often sent again as the client's
// retry: the same key and input, mostly under the same handle.
func (p *lpRun) signRequest() {
	t := p.t
	if alone := p.loneCompanions(); len(alone) > 0 && rapid.Bool().Draw(t, "loneCompanion") {
		p.resendUnderLoneCompanion(rapid.SampledFrom(alone).Draw(t, "signID"))
		return
	}
	id := rapid.SampledFrom(lpSignIDs).Draw(t, "signID")
	key := rapid.SampledFrom(lpKeys).Draw(t, "key")
	var live []string
	for _, h := range lpHandleIDs {
		if p.m.handles[h] != nil {
			live = append(live, h)
		}
	}
	handle := rapid.SampledFrom(lpHandleIDs).Draw(t, "anyHandle")
	if len(live) > 0 && rapid.IntRange(0, 9).Draw(t, "liveHandle") > 0 {
		handle = rapid.SampledFrom(live).Draw(t, "handle")
		if rapid.IntRange(0, 9).Draw(t, "handleKey") > 0 {
			key = p.m.handles[handle].key
		}
	}
	if open := p.dualSigning(); len(open) > 0 && rapid.IntRange(0, 2).Draw(t, "dualKey") == 0 {
		// A key in a dual-sign window, under a handle that grants it, so
		// that companions are made and outlive their requests.
		key = rapid.SampledFrom(open).Draw(t, "key")
		if grants := p.granting(key); len(grants) > 0 {
			handle = rapid.SampledFrom(grants).Draw(t, "handle")
		}
	}
	digest := lpDigest(id, rapid.SampledFrom([]int{0, 0, 0, 0, 0, 1}).Draw(t, "digest"))
	if s := p.m.signs[id]; s != nil && rapid.IntRange(0, 2).Draw(t, "retry") > 0 {
		key, digest = s.key, s.digest
		if rapid.IntRange(0, 3).Draw(t, "sameHandle") > 0 {
			handle = s.handle
		}
	}
	proof := fsm.HandleTokenHash(lpToken(handle))
	if rapid.IntRange(0, 11).Draw(t, "wrongToken") == 0 {
		proof = fsm.HandleTokenHash([]byte("guess"))
	}
	c := fsm.SignRequested{RequestID: id, Key: key, Handle: handle, HandleProof: proof,
		Purpose:   rapid.SampledFrom([]string{"", "", "", "sign", "backup"}).Draw(t, "purpose"),
		Version:   rapid.SampledFrom([]uint32{0, 0, 0, 0, 1, 2, 3}).Draw(t, "version"),
		Digest:    digest,
		Committee: lcCommittee(), Actor: "app", Time: p.stamp()}
	want := p.m.sign(c)
	p.expect("sign", c, p.apply(c), want)
}

// resendUnderLoneCompanion sends the request whose companion outlived it
// again, as its client would, or sometimes with other input: the new
// request keeps the running companion, or conflicts with it.
func (p *lpRun) resendUnderLoneCompanion(id string) {
	t := p.t
	d := p.runningCompanion(id)
	digest := d.digest
	if rapid.IntRange(0, 3).Draw(t, "otherInput") == 0 {
		digest = lpDigest(id, 0)
		if bytes.Equal(digest, d.digest) {
			digest = lpDigest(id, 1)
		}
	}
	c := fsm.SignRequested{RequestID: id, Key: d.key, Handle: d.handle, HandleProof: fsm.HandleTokenHash(lpToken(d.handle)),
		Digest: digest, Committee: lcCommittee(), Actor: "app", Time: p.stamp()}
	want := p.m.sign(c)
	p.expect("sign", c, p.apply(c), want)
}

// dualSigning are the keys whose dual-sign window is open.
func (p *lpRun) dualSigning() []string {
	var out []string
	for _, name := range lpKeys {
		if k := p.m.keys[name]; k != nil && p.m.dualOf(k, 0) != 0 {
			out = append(out, name)
		}
	}
	return out
}

// granting are the handles that let a request sign with key now.
func (p *lpRun) granting(key string) []string {
	var out []string
	for _, id := range lpHandleIDs {
		c := fsm.SignRequested{Key: key, Handle: id, HandleProof: fsm.HandleTokenHash(lpToken(id))}
		if h, _ := p.m.grant(c); h != nil {
			out = append(out, id)
		}
	}
	return out
}

// runningCompanion returns the pending companion of a request under id,
// or nil.
func (p *lpRun) runningCompanion(id string) *lmSign {
	for _, s := range p.m.signs {
		if s.parent == id && s.state == fsm.SignStatePending {
			return s
		}
	}
	return nil
}

// loneCompanions are the ids whose companion still runs while the id
// itself does not: it failed, or finished and is gone.
func (p *lpRun) loneCompanions() []string {
	var out []string
	for _, id := range lpSignIDs {
		if s := p.m.signs[id]; (s == nil || s.state != fsm.SignStatePending) && p.runningCompanion(id) != nil {
			out = append(out, id)
		}
	}
	return out
}

// signIDs are the ids of every sign record the model holds, sorted.
func (p *lpRun) signIDs(pendingOnly bool) []string {
	var out []string
	for id, s := range p.m.signs {
		if !pendingOnly || s.state == fsm.SignStatePending {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func (p *lpRun) signCompleted() {
	t := p.t
	id := rapid.SampledFrom(lpSignIDs).Draw(t, "anyID")
	if ids := p.signIDs(rapid.Bool().Draw(t, "pendingOnly")); len(ids) > 0 && rapid.IntRange(0, 5).Draw(t, "knownID") > 0 {
		id = rapid.SampledFrom(ids).Draw(t, "id")
	}
	key, digest, by := "ka", lpDigest(id, 0), uint32(1)
	if s := p.m.signs[id]; s != nil {
		key, digest, by = s.key, s.digest, s.version
		if rapid.IntRange(0, 3).Draw(t, "otherVersion") == 0 {
			by = s.version + 1 // another version's key, made or not
		}
	}
	c := fsm.SignCompleted{RequestID: id, Attempt: 1, Node: "n1", Signature: fsmSig(versionPub(key, by), digest, "")}
	want := p.m.complete(id, by)
	p.expect("sign completed", c, p.apply(c), want)
}

// signFailed fails a pending request, often one whose companion runs, so
// that the companion outlives it.
func (p *lpRun) signFailed() {
	ids := p.signIDs(true)
	if len(ids) == 0 {
		return
	}
	var parents []string
	for _, id := range ids {
		if d := p.m.signs[p.m.signs[id].dual]; d != nil && d.state == fsm.SignStatePending {
			parents = append(parents, id)
		}
	}
	if len(parents) > 0 && rapid.Bool().Draw(p.t, "parent") {
		ids = parents
	}
	id := rapid.SampledFrom(ids).Draw(p.t, "id")
	c := fsm.SignFailed{RequestID: id, Attempt: 1, Reason: "stalled"}
	want := p.m.fail(id)
	p.expect("sign failed", c, p.apply(c), want)
}

func (p *lpRun) step(action string) {
	t := p.t
	switch action {
	case "create":
		name := rapid.SampledFrom(lpKeys).Draw(t, "key")
		c := fsm.CreateKey{RequestID: rapid.SampledFrom([]string{"c-" + name, "c-other"}).Draw(t, "createID"), Name: name,
			Algorithm: algEd25519, Threshold: 1, Members: lcMembers(), Purposes: lpPurposes(name),
			DeletionAllowed: rapid.Bool().Draw(t, "deletion"), Actor: "admin", Time: p.stamp()}
		want := p.m.create(c)
		p.expect("create", c, p.apply(c), want)
	case "shares":
		key := rapid.SampledFrom(lpKeys).Draw(t, "key")
		for _, name := range lpKeys {
			if k := p.m.keys[name]; k != nil && k.versions[len(k.versions)-1].state == fsm.KeyGenerating {
				key = name
			}
		}
		v := p.latest(key)
		if rapid.IntRange(0, 9).Draw(t, "otherVersion") == 0 {
			v = uint32(rapid.IntRange(1, int(v)+1).Draw(t, "version"))
		}
		for _, n := range lcMembers() {
			c := fsm.ShareStored{Key: key, Version: v, Node: n, PublicKey: versionPub(key, v)}
			want := p.m.share(c)
			p.expect("share", c, p.apply(c), want)
		}
	case "keygen failed":
		key := rapid.SampledFrom(lpKeys).Draw(t, "key")
		c := fsm.KeygenFailed{Key: key, Version: p.latest(key), Node: "n2", Reason: "crash"}
		want := p.m.keygenFailed(c)
		p.expect("keygen failed", c, p.apply(c), want)
	case "rotate", "promote", "rollback", "retire", "revoke", "policy", "destroy", "cancel_destroy":
		p.change(fsm.KeyOp(action))
	case "destroy due":
		key := rapid.SampledFrom(lpKeys).Draw(t, "key")
		c := fsm.DestroyDue{Key: key, Version: p.versionWhere(key, func(v *lmVersion) bool { return v.scheduled && !v.executed }), Time: p.stamp()}
		want := p.m.destroyDue(c)
		p.expect("destroy due", c, p.apply(c), want)
	case "issue handle":
		p.issueHandle()
	case "revoke handle":
		p.revokeHandle()
	case "sign":
		p.signRequest()
	case "sign completed":
		p.signCompleted()
	case "sign failed":
		p.signFailed()
	case "wait":
		// The next command comes once the de-duplication age has passed.
		p.clock += int64(p.cfg.RequestRecordAge)
		p.seen["wait"]++
	default:
		t.Fatalf("unknown action %q", action)
	}
}

// check compares the FSM's whole visible state with the model.
func (p *lpRun) check() {
	p.t.Helper()
	m := p.m
	fail := func(format string, args ...any) {
		p.t.Fatalf("after index %d: %s", p.idx, fmt.Sprintf(format, args...))
	}
	if got := p.f.Time(); got != m.now {
		fail("replicated time %d, model %d", got, m.now)
	}
	for _, name := range lpKeys {
		k, ok := p.f.Key(name)
		mk := m.keys[name]
		if ok != (mk != nil) {
			fail("key %s present=%v, model %v", name, ok, mk != nil)
		}
		if !ok {
			continue
		}
		p.checkKey(k, mk)
	}
	for _, id := range lpHandleIDs {
		h, ok := p.f.Handle(id)
		mh := m.handles[id]
		if ok != (mh != nil) {
			fail("handle %s present=%v, model %v", id, ok, mh != nil)
		}
		if ok && (h.Key != mh.key || h.Purpose != mh.purpose || h.Expires != mh.expires || h.Uses != mh.uses || h.MaxUses != mh.maxUses || h.Revoked != mh.revoked) {
			fail("handle %s %+v, model %+v", id, h, mh)
		}
	}
	for _, id := range p.allSignIDs() {
		s, ok := p.f.Sign(id)
		ms := m.signs[id]
		if ok != (ms != nil) {
			fail("sign %s present=%v, model %v", id, ok, ms != nil)
		}
		if ok && (s.Key != ms.key || s.Version != ms.version || s.State != ms.state || s.Parent != ms.parent || s.Dual != ms.dual ||
			s.Time != ms.time || s.HandleProof != ms.proof) {
			fail("sign %s %+v, model %+v", id, s, ms)
		}
	}
	st := p.f.TableStats()
	if st.PendingSigns != m.pending || len(p.f.PendingSigns()) != m.pending || st.SignRecords != len(m.signs) ||
		st.RequestRecords != len(m.reqs) || st.Handles != len(m.handles) {
		fail("stats %+v; model: %d pending of %d sign records, %d request records, %d handles",
			st, m.pending, len(m.signs), len(m.reqs), len(m.handles))
	}
}

func (p *lpRun) checkKey(k *fsm.Key, mk *lmKey) {
	p.t.Helper()
	fail := func(format string, args ...any) {
		p.t.Fatalf("after index %d, key %s: %s", p.idx, k.Name, fmt.Sprintf(format, args...))
	}
	if k.Primary != mk.primary || k.MinSignVersion != mk.minSign || k.MinVerifyVersion != mk.minVerify || k.DeletionAllowed != mk.deletion {
		fail("primary v%d floors %d/%d deletion %v; model v%d %d/%d %v", k.Primary, k.MinSignVersion, k.MinVerifyVersion,
			k.DeletionAllowed, mk.primary, mk.minSign, mk.minVerify, mk.deletion)
	}
	switch d := k.DualSign; {
	case (d == nil) != (mk.dualVersion == 0):
		fail("dual-sign window %+v, model v%d", d, mk.dualVersion)
	case d != nil && (d.Version != mk.dualVersion || d.Until != mk.dualUntil):
		fail("dual-sign window %+v, model v%d until %d", d, mk.dualVersion, mk.dualUntil)
	}
	if len(k.Versions) != len(mk.versions) {
		fail("%d versions, model %d", len(k.Versions), len(mk.versions))
	}
	for i, v := range k.Versions {
		mv := mk.versions[i]
		n := uint32(i + 1)
		if v.Number != n || v.State != mv.state {
			fail("v%d (number %d) %s, model %s", n, v.Number, v.State, mv.state)
		}
		switch d := v.Destroy; {
		case (d != nil) != mv.scheduled:
			fail("v%d destroy %+v, model scheduled=%v", n, d, mv.scheduled)
		case d != nil && (d.At != mv.destroyAt || d.Executed != mv.executed):
			fail("v%d destroy %+v, model at %d executed %v", n, d, mv.destroyAt, mv.executed)
		}
		if !errors.Is(k.SignVersion(n), mk.signable(n)) || !errors.Is(k.VerifyVersion(n), mk.verifiable(n)) {
			fail("v%d SignVersion %v VerifyVersion %v; model %v %v", n, k.SignVersion(n), k.VerifyVersion(n), mk.signable(n), mk.verifiable(n))
		}
	}
}

// allSignIDs are the client ids and every companion id they may have.
func (p *lpRun) allSignIDs() []string {
	var out []string
	for _, id := range lpSignIDs {
		out = append(out, id)
		for v := uint32(1); v <= 8; v++ {
			out = append(out, signs.DualRequestID(id, v))
		}
	}
	return out
}

// start creates ka, active at v1, and issues handle h1 for it with ttl.
func (p *lpRun) start(ttl int64) {
	p.t.Helper()
	create := fsm.CreateKey{RequestID: "c-ka", Name: "ka", Algorithm: algEd25519, Threshold: 1, Members: lcMembers(),
		DeletionAllowed: true, Time: p.clock}
	p.expect("create", create, p.apply(create), p.m.create(create))
	for _, n := range lcMembers() {
		c := fsm.ShareStored{Key: "ka", Version: 1, Node: n, PublicKey: versionPub("ka", 1)}
		p.expect("share", c, p.apply(c), p.m.share(c))
	}
	grant := fsm.IssueHandle{RequestID: "r0", HandleID: "h1", TokenHash: fsm.HandleTokenHash(lpToken("h1")), Key: "ka",
		Purpose: "sign", TTL: ttl, Time: p.clock}
	p.expect("issue", grant, p.apply(grant), p.m.issue(grant))
}

// dualStart rotates ka and promotes v2 with a dual-sign window of window,
// so that companions are made early and often outlive their requests.
func (p *lpRun) dualStart(window int64) {
	p.t.Helper()
	rotate := fsm.ChangeKey{RequestID: "r-start-rotate", Op: fsm.OpRotate, Key: "ka", Actor: "admin", Time: p.clock}
	p.expect("rotate", rotate, p.apply(rotate), p.m.change(rotate))
	for _, n := range lcMembers() {
		c := fsm.ShareStored{Key: "ka", Version: 2, Node: n, PublicKey: versionPub("ka", 2)}
		p.expect("share", c, p.apply(c), p.m.share(c))
	}
	promote := fsm.ChangeKey{RequestID: "r-start-promote", Op: fsm.OpPromote, Key: "ka", Version: 2, DualSign: window,
		Actor: "admin", Time: p.clock}
	p.expect("promote", promote, p.apply(promote), p.m.change(promote))
}

// snapshotRestore continues on a fresh FSM restored from a snapshot of
// the current one, as a follower that installs a snapshot would.
func (p *lpRun) snapshotRestore() {
	p.t.Helper()
	data := snapshotBytes(p.t, p.f)
	p.f = restoredFSM(p.t, p.cfg, data)
	if again := snapshotBytes(p.t, p.f); !bytes.Equal(again, data) {
		p.t.Fatalf("snapshot of the restored FSM differs:\n%s\n%s", data, again)
	}
	p.seen["snapshot restore"]++
}

// TestLifecyclePropertyFollowsModel applies random sequences of key
// lifecycle, handle and signing commands, at random leader times, and
// checks every result and the state after every step against lifeModel;
// half way it continues on an FSM restored from a snapshot.
func TestLifecyclePropertyFollowsModel(t *testing.T) {
	actions := []string{
		"create", "shares", "shares", "shares", "keygen failed",
		"rotate", "rotate", "promote", "promote", "promote", "rollback", "retire", "revoke",
		"policy", "policy", "destroy", "destroy", "destroy due", "destroy due", "cancel_destroy",
		"issue handle", "issue handle", "issue handle", "revoke handle", "revoke handle",
		"sign", "sign", "sign", "sign", "sign", "sign", "sign", "sign", "sign completed", "sign completed", "sign failed",
	}
	start := func(p *lpRun) {
		// An active key and a handle for it, so most runs reach rotation
		// and signing quickly; half of them in a dual-sign window.
		p.start(1000)
		if rapid.Bool().Draw(p.t, "dualStart") {
			p.dualStart(2000)
		}
	}
	total, runs := checkLifecycleProperty(t, lpConfig(), start, actions, 120)

	t.Logf("outcomes of %d runs: %v", runs, total)
	// The generator must reach the outcomes that matter; otherwise the
	// property proves little. Fewer runs (-rapid.checks) may miss some.
	if runs < 100 {
		return
	}
	requireOutcomes(t, total,
		"rotate: ok dup=false", "promote: ok dup=false", "rollback: ok dup=false", "retire: ok dup=false",
		"revoke: ok dup=false", "policy: ok dup=false", "destroy: ok dup=false", "cancel_destroy: ok dup=false",
		"destroy due: ok dup=false", "destroy due: "+fsm.ErrBadTransition.Error()+" ",
		"promote: "+fsm.ErrBadTransition.Error()+" ", "policy: "+fsm.ErrInvalidCommand.Error()+" ",
		"policy: cancelled scheduled destruction",
		"rotate: ok dup=true", "issue: ok dup=true", "revoke handle: ok dup=true",
		"rotate: "+fsm.ErrRequestConflict.Error()+" ", "issue: "+fsm.ErrTooManyHandles.Error()+" ",
		"revoke: ended running requests",
		"sign: ok dup=false", "sign: ok dup=true", "sign: dual-signed",
		"sign: "+fsm.ErrHandleDenied.Error()+" expired", "sign: "+fsm.ErrHandleDenied.Error()+" revoked",
		"sign: "+fsm.ErrHandleDenied.Error()+" used up", "sign: "+fsm.ErrHandleDenied.Error()+" purpose",
		"sign: "+fsm.ErrHandleDenied.Error()+" for key", "sign: "+fsm.ErrHandleDenied.Error()+" not recognised",
		"sign: "+fsm.ErrHandleDenied.Error()+" "+retryDenied,
		"sign: "+fsm.ErrVersionUnusable.Error()+" ", "sign: "+fsm.ErrRequestConflict.Error()+" ",
		"sign: "+fsm.ErrTooManyPending.Error()+" ",
		"sign completed: ok dup=false", "sign completed: ok dup=true", "sign completed: "+fsm.ErrBadSignature.Error()+" ",
		"snapshot restore",
		"evicted request record by count", "evicted request record by age", "request record expired on lookup",
		"evicted sign record by count", "evicted sign record by age", "sign record expired on lookup",
	)
}

// TestSignRequestIDReuseFollowsModel drives what a sign request id meets
// again, which the broad property above reaches too rarely: retries under
// the same or another handle, before and after the de-duplication age,
// re-runs of failed requests, and requests whose dual-sign companion
// outlived them. One key signs in a dual-sign window that stays open; two
// handles grant it.
func TestSignRequestIDReuseFollowsModel(t *testing.T) {
	actions := []string{"sign", "sign", "sign", "sign", "sign completed", "sign completed", "sign failed", "sign failed", "wait"}
	cfg := lpConfig()
	cfg.MaxHandleTTL = 1 << 40
	start := func(p *lpRun) {
		p.start(cfg.MaxHandleTTL.Nanoseconds())
		grant := fsm.IssueHandle{RequestID: "r-h2", HandleID: "h2", TokenHash: fsm.HandleTokenHash(lpToken("h2")), Key: "ka",
			Purpose: "sign", TTL: cfg.MaxHandleTTL.Nanoseconds(), Time: p.clock}
		p.expect("issue", grant, p.apply(grant), p.m.issue(grant))
		p.dualStart(1 << 40)
	}
	total, runs := checkLifecycleProperty(t, cfg, start, actions, 60)

	t.Logf("outcomes of %d runs: %v", runs, total)
	if runs < 100 {
		return
	}
	requireOutcomes(t, total,
		"sign: ok dup=false", "sign: ok dup=true", "sign: dual-signed", "sign: rerun of failed request",
		"sign: kept running companion", "sign: "+fsm.ErrRequestConflict.Error()+" companion",
		"sign: "+fsm.ErrRequestConflict.Error()+" ", "sign: "+fsm.ErrHandleDenied.Error()+" "+retryDenied,
		"sign: "+fsm.ErrTooManyPending.Error()+" ",
		"sign record expired on lookup", "evicted sign record by count", "evicted sign record by age",
		"sign completed: ok dup=false", "sign failed: ok dup=false", "snapshot restore",
	)
}

// checkLifecycleProperty runs the property: start sets a run up, then
// minSteps to twice as many actions follow, each checked against the
// model; half way the run continues on an FSM restored from a snapshot.
// It returns the outcomes counted over all runs.
func checkLifecycleProperty(t *testing.T, cfg fsm.FSMConfig, start func(*lpRun), actions []string, minSteps int) (map[string]int, int) {
	var tally outcomeTally
	rapid.Check(t, func(rt *rapid.T) {
		f, err := fsm.NewFSM(cfg, fsmCrypto{})
		if err != nil {
			rt.Fatalf("NewFSM: %v", err)
		}
		p := &lpRun{t: rt, cfg: cfg, f: f, m: newLifeModel(cfg), clock: 1000, sent: map[string]fsm.Command{},
			done: map[string][]string{}, seen: map[string]int{}}
		start(p)
		p.check()
		runSteps(rt, p, actions, minSteps)
		tally.add(p.seen, p.m.evicted)
	})
	return tally.total, tally.runs
}

// stepRun is a property run that takes named actions and checks itself
// against its model.
type stepRun interface {
	step(action string)
	check()
	snapshotRestore()
}

// runSteps has p take minSteps to twice as many actions drawn from
// actions, checking after each; half way the run goes on from a snapshot
// restore, checked too.
func runSteps(rt *rapid.T, p stepRun, actions []string, minSteps int) {
	n := minSteps + rapid.IntRange(0, minSteps).Draw(rt, "steps")
	for i := range n {
		if i == n/2 {
			p.snapshotRestore()
			p.check()
		}
		p.step(rapid.SampledFrom(actions).Draw(rt, "action"))
		p.check()
	}
}

// outcomeTally adds up the outcomes that rapid's runs saw; runs may go
// in parallel.
type outcomeTally struct {
	mu    sync.Mutex
	total map[string]int
	runs  int
}

// add counts one run that saw the outcomes in counts.
func (o *outcomeTally) add(counts ...map[string]int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.total == nil {
		o.total = map[string]int{}
	}
	for _, c := range counts {
		for k, v := range c {
			o.total[k] += v
		}
	}
	o.runs++
}

// requireOutcomes fails t for each wanted outcome no run produced.
func requireOutcomes(t *testing.T, total map[string]int, want ...string) {
	t.Helper()
	for _, w := range want {
		if total[w] == 0 {
			t.Errorf("no run produced %q", w)
		}
	}
}
