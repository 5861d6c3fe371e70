// Package render is how kq shows an answer: each command's view printed as
// a human table or, with -o json, as the JSON document scripts parse. The
// JSON keys and table columns here are the CLI's output contract.
package render

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// This file is the CLI's output contract: scripts parse the JSON keys below,
// so rename none of them. Every command prints through a Printer.

// View is something a command prints: as JSON, or as a human table.
type View interface {
	Table(w io.Writer) error
}

// Printer writes views in the format chosen with -o.
type Printer struct {
	W      io.Writer
	Format string // FormatTable or FormatJSON
}

// The values of -o.
const (
	FormatTable = "table"
	FormatJSON  = "json"
)

// Print writes v as an indented JSON document or as its table.
func (p Printer) Print(v View) error {
	if p.Format == FormatJSON {
		enc := json.NewEncoder(p.W)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return v.Table(p.W)
}

// NewTabWriter aligns the columns of every kq table alike.
func NewTabWriter(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// ErrorText renders err as "<grpc code>: <message>" when it carries a gRPC
// status, else as its message.
func ErrorText(err error) string {
	if s, ok := status.FromError(err); ok && s != nil {
		return fmt.Sprintf("%s: %s", s.Code(), s.Message())
	}
	return err.Error()
}

// UnixTimeJSON renders a replicated time for JSON: RFC 3339 with
// nanoseconds in UTC, or "" for 0 (no such time).
func UnixTimeJSON(nanos int64) string {
	if nanos == 0 {
		return ""
	}
	return time.Unix(0, nanos).UTC().Format(time.RFC3339Nano)
}

// UnixTimeTable renders a replicated time for a table, to the second.
func UnixTimeTable(nanos int64) string {
	return time.Unix(0, nanos).UTC().Format(time.RFC3339)
}

// KeyView is a key as `kq key get` prints it. The top-level version, state
// and public key are the current version's, as before versions existed.
type KeyView struct {
	Name         string   `json:"name"`
	Algorithm    string   `json:"algorithm"`
	Version      uint32   `json:"version"`
	Threshold    uint32   `json:"threshold"`
	State        string   `json:"state"`
	Members      []string `json:"members"`
	Confirmed    []string `json:"confirmed"`
	PublicKeyPEM string   `json:"public_key_pem"`
	PublicKeyHex string   `json:"public_key_hex"`
	Failure      string   `json:"failure"`
	// Presignature pool (ECDSA): ready to use, and being prepared.
	PresigsReady   uint32 `json:"presigs_ready"`
	PresigsPending uint32 `json:"presigs_pending"`

	PrimaryVersion   uint32           `json:"primary_version"`
	Versions         []KeyVersionView `json:"versions"`
	MinSignVersion   uint32           `json:"min_sign_version"`
	MinVerifyVersion uint32           `json:"min_verify_version"`
	DeletionAllowed  bool             `json:"deletion_allowed"`
	Purposes         []string         `json:"purposes"`
	// An open dual-sign window; 0 and "" when none is open.
	DualSignVersion uint32 `json:"dual_sign_version"`
	DualSignUntil   string `json:"dual_sign_until"`

	dualSignUntil int64
}

// KeyVersionView is one version of a key. Refresh fields are zero and
// empty unless a refresh runs; destroy_at is "" unless a destruction is
// scheduled; shares_destroyed names the members that shredded their share.
type KeyVersionView struct {
	Version          uint32   `json:"version"`
	State            string   `json:"state"`
	PublicKeyPEM     string   `json:"public_key_pem"`
	PublicKeyHex     string   `json:"public_key_hex"`
	Epoch            uint32   `json:"epoch"`
	Confirmed        []string `json:"confirmed"`
	Failure          string   `json:"failure"`
	RefreshEpoch     uint32   `json:"refresh_epoch"`
	RefreshConfirmed []string `json:"refresh_confirmed"`
	DestroyAt        string   `json:"destroy_at"`
	Destroyed        bool     `json:"destroyed"`
	SharesDestroyed  []string `json:"shares_destroyed"`

	destroyAt int64
}

// NewKeyView is the view of k.
func NewKeyView(k *kqpb.Key) KeyView {
	v := KeyView{
		Name:         k.GetName(),
		Algorithm:    k.GetAlgorithm().Name(),
		Version:      k.GetVersion(),
		Threshold:    k.GetThreshold(),
		State:        k.GetState().Name(),
		Members:      NonNil(k.GetMembers()),
		Confirmed:    NonNil(k.GetConfirmed()),
		PublicKeyPEM: k.GetPublicKeyPem(),
		PublicKeyHex: hex.EncodeToString(k.GetPublicKey()),
		Failure:      k.GetFailure(),

		PresigsReady:   k.GetPresigsReady(),
		PresigsPending: k.GetPresigsPending(),

		PrimaryVersion:   k.GetPrimaryVersion(),
		Versions:         make([]KeyVersionView, 0, len(k.GetVersions())),
		MinSignVersion:   k.GetMinSignVersion(),
		MinVerifyVersion: k.GetMinVerifyVersion(),
		DeletionAllowed:  k.GetDeletionAllowed(),
		Purposes:         NonNil(k.GetPurposes()),
	}
	if until := k.GetDualSignUntilUnixNano(); k.GetDualSignVersion() != 0 && until != 0 {
		v.DualSignVersion, v.DualSignUntil, v.dualSignUntil = k.GetDualSignVersion(), UnixTimeJSON(until), until
	}
	for _, kv := range k.GetVersions() {
		v.Versions = append(v.Versions, newKeyVersionView(kv))
	}
	return v
}

func newKeyVersionView(v *kqpb.KeyVersion) KeyVersionView {
	return KeyVersionView{
		Version:          v.GetVersion(),
		State:            v.GetState().Name(),
		PublicKeyPEM:     v.GetPublicKeyPem(),
		PublicKeyHex:     hex.EncodeToString(v.GetPublicKey()),
		Epoch:            v.GetEpoch(),
		Confirmed:        NonNil(v.GetConfirmed()),
		Failure:          v.GetFailure(),
		RefreshEpoch:     v.GetRefreshEpoch(),
		RefreshConfirmed: NonNil(v.GetRefreshConfirmed()),
		DestroyAt:        UnixTimeJSON(v.GetDestroyAtUnixNano()),
		Destroyed:        v.GetDestroyed(),
		SharesDestroyed:  NonNil(v.GetSharesDestroyed()),
		destroyAt:        v.GetDestroyAtUnixNano(),
	}
}

// NonNil keeps JSON arrays as [] rather than null.
func NonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const keyHeader = "NAME\tALGORITHM\tVERSION\tSTATE\tTHRESHOLD\tMEMBERS"

func (k KeyView) row() string {
	return fmt.Sprintf("%s\t%s\t%d\t%s\t%d\t%s", k.Name, k.Algorithm, k.Version, k.State, k.Threshold, strings.Join(k.Members, ","))
}

func (k KeyView) Table(w io.Writer) error {
	tw := NewTabWriter(w)
	fmt.Fprintln(tw, keyHeader)
	fmt.Fprintln(tw, k.row())
	if err := tw.Flush(); err != nil {
		return err
	}
	if k.State == "generating" {
		fmt.Fprintf(w, "\nconfirmed: %s\n", strings.Join(k.Confirmed, ","))
	}
	if k.Failure != "" {
		fmt.Fprintf(w, "\nfailure: %s\n", k.Failure)
	}
	if len(k.Versions) > 0 {
		if err := k.lifecycleTable(w); err != nil {
			return err
		}
	}
	if k.PublicKeyPEM != "" {
		_, err := fmt.Fprintf(w, "\n%s", ensureNewline(k.PublicKeyPEM))
		return err
	}
	return nil
}

// lifecycleTable prints the purposes, the policy and one line per version.
func (k KeyView) lifecycleTable(w io.Writer) error {
	fmt.Fprintf(w, "\npurposes: %s\n", strings.Join(k.Purposes, ", "))
	fmt.Fprintf(w, "policy: %s\n", k.policyText())
	fmt.Fprintln(w)
	tw := NewTabWriter(w)
	fmt.Fprintln(tw, "VERSION\tSTATE\tEPOCH\tNOTES")
	for _, v := range k.Versions {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\n", v.Version, v.State, v.Epoch, strings.Join(k.versionNotes(v), "; "))
	}
	return tw.Flush()
}

func (k KeyView) policyText() string {
	var floors []string
	if k.MinSignVersion > 0 {
		floors = append(floors, fmt.Sprintf("signs from v%d", k.MinSignVersion))
	}
	if k.MinVerifyVersion > 0 {
		floors = append(floors, fmt.Sprintf("verifies from v%d", k.MinVerifyVersion))
	}
	if len(floors) == 0 {
		floors = []string{"no version floors"}
	}
	deletion := "deletion not allowed"
	if k.DeletionAllowed {
		deletion = "deletion allowed"
	}
	return strings.Join(floors, ", ") + "; " + deletion
}

// versionNotes says what a version's state alone does not: its role and
// any work in progress on it.
func (k KeyView) versionNotes(v KeyVersionView) []string {
	var notes []string
	if v.Version == k.PrimaryVersion {
		notes = append(notes, "primary")
	}
	if v.Version == k.DualSignVersion && k.DualSignUntil != "" {
		notes = append(notes, "dual-sign until "+UnixTimeTable(k.dualSignUntil))
	}
	if v.State == "generating" && len(v.Confirmed) > 0 {
		notes = append(notes, "shares stored on "+strings.Join(v.Confirmed, ","))
	}
	if v.Failure != "" {
		notes = append(notes, "failure: "+v.Failure)
	}
	if v.RefreshEpoch != 0 {
		stored := "none stored yet"
		if len(v.RefreshConfirmed) > 0 {
			stored = "stored on " + strings.Join(v.RefreshConfirmed, ",")
		}
		notes = append(notes, fmt.Sprintf("refreshing to epoch %d (%s)", v.RefreshEpoch, stored))
	}
	if v.destroyAt != 0 && !v.Destroyed {
		notes = append(notes, "destroys at "+UnixTimeTable(v.destroyAt))
	}
	if len(v.SharesDestroyed) > 0 {
		notes = append(notes, "shredded on "+strings.Join(v.SharesDestroyed, ","))
	}
	if v.Destroyed {
		if missing := without(k.Members, v.SharesDestroyed); len(missing) > 0 {
			notes = append(notes, "not yet shredded on "+strings.Join(missing, ","))
		}
	}
	return notes
}

// without returns the members of all that are not in some, in order.
func without(all, some []string) []string {
	var out []string
	for _, m := range all {
		if !slices.Contains(some, m) {
			out = append(out, m)
		}
	}
	return out
}

func ensureNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// KeyListView is `kq key list`.
type KeyListView struct {
	Keys []KeyView `json:"keys"`
}

// NewKeyListView is the view of r.
func NewKeyListView(r *kqpb.ListKeysResponse) KeyListView {
	v := KeyListView{Keys: make([]KeyView, 0, len(r.GetKeys()))}
	for _, k := range r.GetKeys() {
		v.Keys = append(v.Keys, NewKeyView(k))
	}
	return v
}

func (l KeyListView) Table(w io.Writer) error {
	tw := NewTabWriter(w)
	fmt.Fprintln(tw, keyHeader)
	for _, k := range l.Keys {
		fmt.Fprintln(tw, k.row())
	}
	return tw.Flush()
}

// SignView is `kq sign`. Signatures lists every signature made: the one
// above first, then, inside a dual-sign window, the previous primary's.
type SignView struct {
	Key          string                 `json:"key"`
	Version      uint32                 `json:"version"`
	SignatureHex string                 `json:"signature_hex"`
	Signatures   []VersionSignatureView `json:"signatures"`
	RequestID    string                 `json:"request_id"`
	Committee    []string               `json:"committee"`
	Index        uint64                 `json:"index"`
	Presigned    bool                   `json:"presigned"`
	// Format is --format when given: the encoding of every signature.
	Format string `json:"format,omitempty"`
}

type VersionSignatureView struct {
	Version      uint32 `json:"version"`
	SignatureHex string `json:"signature_hex"`
}

// NewSignView is the view of r.
func NewSignView(r *kqpb.SignResponse) SignView {
	v := SignView{
		Key:          r.GetKey(),
		Version:      r.GetVersion(),
		SignatureHex: hex.EncodeToString(r.GetSignature()),
		Signatures:   make([]VersionSignatureView, 0, max(len(r.GetSignatures()), 1)),
		RequestID:    r.GetRequestId(),
		Presigned:    r.GetPresigned(),
		Committee:    NonNil(r.GetCommittee()),
		Index:        r.GetIndex(),
	}
	for _, s := range r.GetSignatures() {
		v.Signatures = append(v.Signatures, VersionSignatureView{Version: s.GetVersion(), SignatureHex: hex.EncodeToString(s.GetSignature())})
	}
	if len(v.Signatures) == 0 && len(r.GetSignature()) > 0 {
		// A node that predates dual signing sends only the one signature;
		// scripts still find it in the list.
		v.Signatures = append(v.Signatures, VersionSignatureView{Version: v.Version, SignatureHex: v.SignatureHex})
	}
	return v
}

func (s SignView) Table(w io.Writer) error {
	tw := NewTabWriter(w)
	fmt.Fprintf(tw, "signature\t%s\n", s.SignatureHex)
	fmt.Fprintf(tw, "key\t%s (version %d)\n", s.Key, s.Version)
	for _, d := range s.Signatures {
		if d.Version != s.Version {
			fmt.Fprintf(tw, "dual-sign signature\t%s (version %d)\n", d.SignatureHex, d.Version)
		}
	}
	fmt.Fprintf(tw, "committee\t%s\n", strings.Join(s.Committee, ","))
	fmt.Fprintf(tw, "index\t%d\n", s.Index)
	fmt.Fprintf(tw, "request id\t%s\n", s.RequestID)
	return tw.Flush()
}

// HandleView is `kq handle issue`. The handle itself is the bearer token,
// shown only this once.
type HandleView struct {
	Handle    string `json:"handle"`
	ID        string `json:"id"`
	Key       string `json:"key"`
	Purpose   string `json:"purpose"`
	ExpiresAt string `json:"expires_at"`
	MaxUses   uint32 `json:"max_uses"` // 0: unlimited until expiry

	expiresAt int64
}

// NewHandleView is the view of h.
func NewHandleView(h *kqpb.Handle) HandleView {
	return HandleView{Handle: h.GetHandle(), ID: h.GetId(), Key: h.GetKey(), Purpose: h.GetPurpose(),
		ExpiresAt: UnixTimeJSON(h.GetExpiresAtUnixNano()), MaxUses: h.GetMaxUses(), expiresAt: h.GetExpiresAtUnixNano()}
}

func (h HandleView) Table(w io.Writer) error {
	uses := "unlimited"
	if h.MaxUses > 0 {
		uses = fmt.Sprint(h.MaxUses)
	}
	tw := NewTabWriter(w)
	fmt.Fprintf(tw, "handle\t%s\n", h.Handle)
	fmt.Fprintf(tw, "id\t%s\n", h.ID)
	fmt.Fprintf(tw, "key\t%s\n", h.Key)
	fmt.Fprintf(tw, "purpose\t%s\n", h.Purpose)
	fmt.Fprintf(tw, "expires at\t%s\n", UnixTimeTable(h.expiresAt))
	fmt.Fprintf(tw, "max uses\t%s\n", uses)
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "\nThe handle is shown only once; revoke it by id.")
	return err
}

// RevokedHandleView is `kq handle revoke`.
type RevokedHandleView struct {
	ID      string `json:"id"`
	Key     string `json:"key"`
	Revoked bool   `json:"revoked"`
}

func (r RevokedHandleView) Table(w io.Writer) error {
	_, err := fmt.Fprintf(w, "revoked handle %s of key %s\n", r.ID, r.Key)
	return err
}

// VerifyView is `kq verify`.
type VerifyView struct {
	Valid   bool   `json:"valid"`
	Key     string `json:"key"`
	Version uint32 `json:"version"`
}

func (v VerifyView) Table(w io.Writer) error {
	verdict := "valid"
	if !v.Valid {
		verdict = "INVALID"
	}
	_, err := fmt.Fprintf(w, "%s: signature by %s version %d\n", verdict, v.Key, v.Version)
	return err
}

// StatusView is `kq status`.
type StatusView struct {
	ClusterID string           `json:"cluster_id"`
	Leader    string           `json:"leader"`
	Nodes     []NodeStatusView `json:"nodes"`
	// Members are the cluster's current members as the leader (else the
	// first node that answered) reports them: after a membership change,
	// not necessarily the nodes of kq's cluster.yaml.
	Members []string `json:"members"`
}

// NodeStatusView is one node's line in `kq status`. State is "unreachable"
// and Error says why when the node did not answer. The record counts are
// the node's de-duplication tables and live handles, with their bounds.
type NodeStatusView struct {
	ID                string `json:"id"`
	State             string `json:"state"`
	Term              uint64 `json:"term"`
	CommitIndex       uint64 `json:"commit_index"`
	AppliedIndex      uint64 `json:"applied_index"`
	Preparams         string `json:"preparams"`
	Keys              uint32 `json:"keys"`
	SignRecords       uint32 `json:"sign_records"`
	MaxSignRecords    uint32 `json:"max_sign_records"`
	RequestRecords    uint32 `json:"request_records"`
	MaxRequestRecords uint32 `json:"max_request_records"`
	DedupAgeSeconds   uint64 `json:"dedup_age_seconds"`
	Handles           uint32 `json:"handles"`
	MaxHandles        uint32 `json:"max_handles"`
	// Protocol is the cluster's active protocol version as this node sees
	// it; MaxProtocol the newest its build supports.
	Protocol    uint32 `json:"protocol"`
	MaxProtocol uint32 `json:"max_protocol"`
	// ClockOffsetNanos is this node's clock minus the median of the
	// members' clocks; Clock is "ok" when it may stamp time as leader,
	// else why not.
	ClockOffsetNanos int64  `json:"clock_offset_nanos"`
	Clock            string `json:"clock"`
	// Drift lists this node's reported settings that differ from what
	// most members report, as the node itself sees the replicated state.
	Drift []string `json:"drift"`
	// Estimates are how long the node's recent key generations and
	// refreshes took (the median per operation and algorithm); kq's
	// progress bar uses them for the time left.
	Estimates []EstimateView `json:"estimates"`
	Reachable bool           `json:"reachable"`
	Error     string         `json:"error"`
}

const stateUnreachable = "unreachable"

// NewNodeStatusView is node id's line: its answer r, or why it gave none.
func NewNodeStatusView(id string, r *kqpb.StatusResponse, err error) NodeStatusView {
	if err != nil {
		return NodeStatusView{ID: id, State: stateUnreachable, Error: ErrorText(err)}
	}
	return NodeStatusView{
		ID:                id,
		State:             r.GetState(),
		Term:              r.GetTerm(),
		CommitIndex:       r.GetCommitIndex(),
		AppliedIndex:      r.GetAppliedIndex(),
		Preparams:         r.GetPreparams(),
		Keys:              r.GetKeys(),
		SignRecords:       r.GetSignRecords(),
		MaxSignRecords:    r.GetMaxSignRecords(),
		RequestRecords:    r.GetRequestRecords(),
		MaxRequestRecords: r.GetMaxRequestRecords(),
		DedupAgeSeconds:   r.GetDedupAgeSeconds(),
		Handles:           r.GetHandles(),
		MaxHandles:        r.GetMaxHandles(),
		Protocol:          r.GetProtocol(),
		MaxProtocol:       r.GetMaxProtocol(),
		ClockOffsetNanos:  r.GetClockOffsetNanos(),
		Clock:             r.GetClock(),
		Drift:             ownDrift(id, r),
		Estimates:         estimateViews(r.GetEstimates()),
		Reachable:         true,
	}
}

// EstimateView is one operation's estimate in `kq status -o json`.
type EstimateView struct {
	Operation string  `json:"operation"`
	Algorithm string  `json:"algorithm"`
	Seconds   float64 `json:"seconds"`
	Samples   uint32  `json:"samples"`
}

func estimateViews(es []*kqpb.OperationEstimate) []EstimateView {
	out := []EstimateView{}
	for _, e := range es {
		out = append(out, EstimateView{Operation: e.Operation, Algorithm: e.Algorithm.Name(), Seconds: e.Seconds, Samples: e.Samples})
	}
	return out
}

func (s StatusView) Table(w io.Writer) error {
	leader := s.Leader
	if leader == "" {
		leader = "none"
	}
	fmt.Fprintf(w, "cluster %s  leader %s  members %s\n", s.ClusterID, leader, strings.Join(s.Members, ","))
	tw := NewTabWriter(w)
	fmt.Fprintln(tw, "NODE\tSTATE\tTERM\tCOMMIT\tAPPLIED\tPREPARAMS\tKEYS\tPROTOCOL\tCLOCK")
	for _, n := range s.Nodes {
		if !n.Reachable {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\t-\n", n.ID, n.State)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%d\t%s\t%s\n", n.ID, n.State, n.Term, n.CommitIndex, n.AppliedIndex, n.Preparams, n.Keys,
			protocolCell(n), clockCell(n))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if n, ok := s.dedupSource(); ok {
		fmt.Fprintf(w, "dedup: %d/%d sign records, %d/%d requests, kept %s; handles %d/%d\n",
			n.SignRecords, n.MaxSignRecords, n.RequestRecords, n.MaxRequestRecords,
			shortDuration(time.Duration(n.DedupAgeSeconds)*time.Second), n.Handles, n.MaxHandles)
	}
	for _, n := range s.Nodes {
		if n.Error != "" {
			fmt.Fprintf(w, "%s: %s\n", n.ID, n.Error)
		}
		if len(n.Drift) > 0 {
			fmt.Fprintf(w, "%s: drift: %s\n", n.ID, strings.Join(n.Drift, "; "))
		}
	}
	return nil
}

// ownDrift returns the drift the node reports for itself.
func ownDrift(id string, r *kqpb.StatusResponse) []string {
	for _, m := range r.GetMembers() {
		if m.GetId() == id {
			return m.GetDrift()
		}
	}
	return nil
}

// protocolCell shows the active protocol version, and the newest the
// node's build supports when that is higher ("1 (build 2)": an upgrade in
// progress).
func protocolCell(n NodeStatusView) string {
	if n.MaxProtocol > n.Protocol {
		return fmt.Sprintf("%d (build %d)", n.Protocol, n.MaxProtocol)
	}
	return fmt.Sprint(n.Protocol)
}

// clockCell shows the node's offset from the members' median, flagged when
// the node may not stamp time.
func clockCell(n NodeStatusView) string {
	off := time.Duration(n.ClockOffsetNanos).Round(time.Millisecond)
	cell := off.String()
	if off >= 0 {
		cell = "+" + cell
	}
	if n.Clock != "ok" {
		cell += " (not confirmed)"
	}
	return cell
}

// dedupSource picks the node whose table sizes the summary line shows:
// the leader, which applied the most, else the first node that answered.
// Nodes that report no bounds predate the tables and are skipped.
func (s StatusView) dedupSource() (NodeStatusView, bool) {
	var first *NodeStatusView
	for i, n := range s.Nodes {
		if !n.Reachable || n.MaxSignRecords == 0 && n.MaxRequestRecords == 0 && n.MaxHandles == 0 {
			continue
		}
		if n.ID == s.Leader {
			return n, true
		}
		if first == nil {
			first = &s.Nodes[i]
		}
	}
	if first == nil {
		return NodeStatusView{}, false
	}
	return *first, true
}

// shortDuration prints d without zero trailing units: 24h, 1h30m, 45s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// CertsView is `kq certs init`.
type CertsView struct {
	Dir     string   `json:"dir"`
	Created []string `json:"created"`
}

func (c CertsView) Table(w io.Writer) error {
	if len(c.Created) == 0 {
		_, err := fmt.Fprintf(w, "all certificates present in %s\n", c.Dir)
		return err
	}
	for _, p := range c.Created {
		if _, err := fmt.Fprintf(w, "created %s\n", p); err != nil {
			return err
		}
	}
	return nil
}
