// Package inforce is the replicated record of the policy in force (a
// document of package policy, which decides requests by it): its version,
// hash and the entry that set it, and the rules every change of it
// follows. A document is read strictly and may not be open; a change
// installs the canonical form, whose hash must be the one the proposer
// computed, and a change that leaves the hash as it is is a duplicate, not
// a new version. Before the first change the bootstrap policy is in
// force: everyone may do everything (Open).
//
// The package is pure, like the state machine that holds the record.
package inforce

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
	"github.com/keyquorum/keyquorum/consensus/fsm/strictjson"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// Record is the policy in force and where it came from; nil under the
// bootstrap policy.
type Record struct {
	Version uint64         `json:"version"`
	SHA256  string         `json:"sha256"`
	Policy  *policy.Policy `json:"policy"`
	Index   uint64         `json:"index"` // the entry that set it
	Actor   string         `json:"actor"`
}

// Open is the bootstrap policy: everyone may do everything.
func Open() *policy.Policy {
	return &policy.Policy{Open: true, Tenants: []string{policy.DefaultTenant}, Principals: map[string]policy.Principal{}, SeparationOfDuties: [][2]policy.Role{}}
}

// Check refuses a record decoded from a snapshot whose policy is null or
// invalid.
func (r *Record) Check() error {
	if r != nil && (r.Policy == nil || r.Policy.Normalize() != nil) {
		return errors.New("the policy is null or invalid")
	}
	return nil
}

// Current returns the policy in force: r's, or the bootstrap policy when
// r is nil.
func (r *Record) Current() *policy.Policy {
	if r != nil {
		return r.Policy
	}
	return Open()
}

// CurrentVersion returns the version in force, 0 under the bootstrap
// policy.
func (r *Record) CurrentVersion() uint64 {
	if r == nil {
		return 0
	}
	return r.Version
}

// Copy returns a deep copy of the record in force, and false under the
// bootstrap policy, whose record is the open policy and its hash.
func (r *Record) Copy() (Record, bool) {
	if r != nil {
		c := *r
		c.Policy = r.Policy.Clone()
		return c, true
	}
	p := Open()
	_, hash, _ := p.Canonical()
	return Record{SHA256: hash, Policy: p}, false
}

// ParseDocument reads a policy document: strict JSON, not open, valid.
func ParseDocument(doc string) (*policy.Policy, error) {
	var p policy.Policy
	if err := strictjson.Decode([]byte(doc), &p); err != nil {
		return nil, fmt.Errorf("%w: %w", policy.ErrInvalid, err)
	}
	if p.Open {
		return nil, fmt.Errorf("%w: a document cannot be open", policy.ErrInvalid)
	}
	if err := p.Normalize(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Install returns the record that makes p the policy in force, set at
// index by actor, and the note for the audit record; want, when set, is
// the hash the proposer computed, which the canonical form must match. A
// p whose hash is the one in force is a duplicate: next is nil.
func (r *Record) Install(p *policy.Policy, want string, index uint64, actor string) (next *Record, note string, err error) {
	_, hash, err := p.Canonical()
	if err != nil {
		return nil, "", err
	}
	if want != "" && want != hash {
		return nil, "", fmt.Errorf("set policy: %w: document hashes to %s, not %s", policy.ErrInvalid, hash, want)
	}
	oldHash, oldVersion := "none", uint64(0)
	if r != nil {
		oldHash, oldVersion = r.SHA256, r.Version
	}
	if hash == oldHash {
		return nil, fmt.Sprintf("policy v%d sha256 %s unchanged", oldVersion, hash), nil
	}
	next = &Record{Version: oldVersion + 1, SHA256: hash, Policy: p, Index: index, Actor: actor}
	return next, fmt.Sprintf("policy v%d -> v%d, sha256 %s -> %s: %s", oldVersion, oldVersion+1, oldHash, hash, policy.Diff(r.Current(), p)), nil
}

// Deny returns the policy in force with principal, or with the
// certificate serial (exactly one of the two), on its deny-list. A
// principal or serial already there is a duplicate: next is nil and the
// note says so.
func (r *Record) Deny(principal, serial string) (next *policy.Policy, note string, err error) {
	if serial != "" || principal == "" {
		return r.denySerial(principal, serial)
	}
	if !policy.ValidPrincipal(principal) {
		return nil, "", fmt.Errorf("revoke principal: %w: %.70q is not a principal name", fsmerr.ErrInvalidCommand, principal)
	}
	p := r.Current().Clone()
	if slices.Contains(p.Denied, principal) {
		return nil, "principal " + principal + " was already denied", nil
	}
	p.Denied = append(p.Denied, principal)
	if err := p.Normalize(); err != nil {
		return nil, "", fmt.Errorf("revoke principal %s: %w", principal, err)
	}
	return p, "", nil
}

// denySerial puts one certificate serial on the deny-list.
func (r *Record) denySerial(principal, serial string) (*policy.Policy, string, error) {
	switch {
	case principal != "":
		return nil, "", fmt.Errorf("revoke: %w: a principal or a certificate serial, not both", fsmerr.ErrInvalidCommand)
	case !policy.ValidSerial(serial):
		return nil, "", fmt.Errorf("revoke certificate: %w: serial %.70q is not canonical lower-case hex", fsmerr.ErrInvalidCommand, serial)
	}
	p := r.Current().Clone()
	if slices.Contains(p.DeniedSerials, serial) {
		return nil, "certificate serial " + serial + " was already denied", nil
	}
	p.DeniedSerials = append(p.DeniedSerials, serial)
	if err := p.Normalize(); err != nil {
		return nil, "", fmt.Errorf("revoke certificate %s: %w", serial, err)
	}
	return p, "", nil
}

// KeepsTenants refuses a next document that leaves out a tenant that
// exists: one the policy in force lists, or one of live, the tenants that
// hold a key not yet destroyed. Only a tenant deletion takes a tenant
// away, since only it revokes the tenant's handles, raises its generation
// and orders every node to shred the tenant's key; a policy that merely
// stopped listing the tenant would leave all of that standing, unseen.
func (r *Record) KeepsTenants(next *policy.Policy, live []string) error {
	cur := r.Current()
	var exist []string
	if !cur.Open {
		exist = slices.Clone(cur.Tenants)
	}
	exist = append(exist, live...)
	var dropped []string
	for _, t := range exist {
		if !slices.Contains(next.Tenants, t) && !slices.Contains(dropped, t) {
			dropped = append(dropped, t)
		}
	}
	if len(dropped) == 0 {
		return nil
	}
	slices.Sort(dropped)
	return fmt.Errorf("%w: the document leaves out tenant %s; a tenant is removed only by deleting it (kq tenant delete), which revokes its handles and shreds its keys",
		fsmerr.ErrBadTransition, strings.Join(dropped, ", "))
}
