package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// This file is the CLI's output contract: scripts parse the JSON keys below,
// so rename none of them. Every command prints through a printer.

// view is something a command prints: as JSON, or as a human table.
type view interface {
	table(w io.Writer) error
}

// printer writes views in the format chosen with -o.
type printer struct {
	w      io.Writer
	format string // formatTable or formatJSON
}

const (
	formatTable = "table"
	formatJSON  = "json"
)

func (p printer) print(v view) error {
	if p.format == formatJSON {
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return v.table(p.w)
}

func newTabWriter(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// Algorithm names on the command line and in JSON.
const (
	algECDSA   = "ecdsa-secp256k1"
	algEd25519 = "ed25519"
)

func algorithmName(a kqpb.Algorithm) string {
	switch a {
	case kqpb.Algorithm_ECDSA_SECP256K1:
		return algECDSA
	case kqpb.Algorithm_ED25519:
		return algEd25519
	default:
		return "unspecified"
	}
}

func parseAlgorithm(s string) (kqpb.Algorithm, error) {
	switch strings.ToLower(s) {
	case algECDSA:
		return kqpb.Algorithm_ECDSA_SECP256K1, nil
	case algEd25519:
		return kqpb.Algorithm_ED25519, nil
	default:
		return kqpb.Algorithm_ALGORITHM_UNSPECIFIED, fmt.Errorf("unknown algorithm %q: want %s or %s", s, algECDSA, algEd25519)
	}
}

func keyStateName(s kqpb.KeyState) string {
	switch s {
	case kqpb.KeyState_KEY_STATE_GENERATING:
		return "generating"
	case kqpb.KeyState_KEY_STATE_ACTIVE:
		return "active"
	case kqpb.KeyState_KEY_STATE_FAILED:
		return "failed"
	default:
		return "unspecified"
	}
}

// keyView is a key as `kq key get` prints it.
type keyView struct {
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
}

func newKeyView(k *kqpb.Key) keyView {
	return keyView{
		Name:         k.GetName(),
		Algorithm:    algorithmName(k.GetAlgorithm()),
		Version:      k.GetVersion(),
		Threshold:    k.GetThreshold(),
		State:        keyStateName(k.GetState()),
		Members:      nonNil(k.GetMembers()),
		Confirmed:    nonNil(k.GetConfirmed()),
		PublicKeyPEM: k.GetPublicKeyPem(),
		PublicKeyHex: hex.EncodeToString(k.GetPublicKey()),
		Failure:      k.GetFailure(),

		PresigsReady:   k.GetPresigsReady(),
		PresigsPending: k.GetPresigsPending(),
	}
}

// nonNil keeps JSON arrays as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const keyHeader = "NAME\tALGORITHM\tVERSION\tSTATE\tTHRESHOLD\tMEMBERS"

func (k keyView) row() string {
	return fmt.Sprintf("%s\t%s\t%d\t%s\t%d\t%s", k.Name, k.Algorithm, k.Version, k.State, k.Threshold, strings.Join(k.Members, ","))
}

func (k keyView) table(w io.Writer) error {
	tw := newTabWriter(w)
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
	if k.PublicKeyPEM != "" {
		_, err := fmt.Fprintf(w, "\n%s", ensureNewline(k.PublicKeyPEM))
		return err
	}
	return nil
}

func ensureNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// keyListView is `kq key list`.
type keyListView struct {
	Keys []keyView `json:"keys"`
}

func newKeyListView(r *kqpb.ListKeysResponse) keyListView {
	v := keyListView{Keys: make([]keyView, 0, len(r.GetKeys()))}
	for _, k := range r.GetKeys() {
		v.Keys = append(v.Keys, newKeyView(k))
	}
	return v
}

func (l keyListView) table(w io.Writer) error {
	tw := newTabWriter(w)
	fmt.Fprintln(tw, keyHeader)
	for _, k := range l.Keys {
		fmt.Fprintln(tw, k.row())
	}
	return tw.Flush()
}

// signView is `kq sign`.
type signView struct {
	Key          string   `json:"key"`
	Version      uint32   `json:"version"`
	SignatureHex string   `json:"signature_hex"`
	RequestID    string   `json:"request_id"`
	Committee    []string `json:"committee"`
	Index        uint64   `json:"index"`
	Presigned    bool     `json:"presigned"`
}

func newSignView(r *kqpb.SignResponse) signView {
	return signView{
		Key:          r.GetKey(),
		Version:      r.GetVersion(),
		SignatureHex: hex.EncodeToString(r.GetSignature()),
		RequestID:    r.GetRequestId(),
		Presigned:    r.GetPresigned(),
		Committee:    nonNil(r.GetCommittee()),
		Index:        r.GetIndex(),
	}
}

func (s signView) table(w io.Writer) error {
	tw := newTabWriter(w)
	fmt.Fprintf(tw, "signature\t%s\n", s.SignatureHex)
	fmt.Fprintf(tw, "key\t%s (version %d)\n", s.Key, s.Version)
	fmt.Fprintf(tw, "committee\t%s\n", strings.Join(s.Committee, ","))
	fmt.Fprintf(tw, "index\t%d\n", s.Index)
	fmt.Fprintf(tw, "request id\t%s\n", s.RequestID)
	return tw.Flush()
}

// verifyView is `kq verify`.
type verifyView struct {
	Valid   bool   `json:"valid"`
	Key     string `json:"key"`
	Version uint32 `json:"version"`
}

func (v verifyView) table(w io.Writer) error {
	verdict := "valid"
	if !v.Valid {
		verdict = "INVALID"
	}
	_, err := fmt.Fprintf(w, "%s: signature by %s version %d\n", verdict, v.Key, v.Version)
	return err
}

// statusView is `kq status`.
type statusView struct {
	ClusterID string           `json:"cluster_id"`
	Leader    string           `json:"leader"`
	Nodes     []nodeStatusView `json:"nodes"`
}

// nodeStatusView is one node's line in `kq status`. State is "unreachable"
// and Error says why when the node did not answer.
type nodeStatusView struct {
	ID           string `json:"id"`
	State        string `json:"state"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	Preparams    string `json:"preparams"`
	Keys         uint32 `json:"keys"`
	Reachable    bool   `json:"reachable"`
	Error        string `json:"error"`
}

const stateUnreachable = "unreachable"

func newNodeStatusView(id string, r *kqpb.StatusResponse, err error) nodeStatusView {
	if err != nil {
		return nodeStatusView{ID: id, State: stateUnreachable, Error: errorText(err)}
	}
	return nodeStatusView{
		ID:           id,
		State:        r.GetState(),
		Term:         r.GetTerm(),
		CommitIndex:  r.GetCommitIndex(),
		AppliedIndex: r.GetAppliedIndex(),
		Preparams:    r.GetPreparams(),
		Keys:         r.GetKeys(),
		Reachable:    true,
	}
}

func (s statusView) table(w io.Writer) error {
	leader := s.Leader
	if leader == "" {
		leader = "none"
	}
	fmt.Fprintf(w, "cluster %s  leader %s\n", s.ClusterID, leader)
	tw := newTabWriter(w)
	fmt.Fprintln(tw, "NODE\tSTATE\tTERM\tCOMMIT\tAPPLIED\tPREPARAMS\tKEYS")
	for _, n := range s.Nodes {
		if !n.Reachable {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\n", n.ID, n.State)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%d\n", n.ID, n.State, n.Term, n.CommitIndex, n.AppliedIndex, n.Preparams, n.Keys)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range s.Nodes {
		if n.Error != "" {
			fmt.Fprintf(w, "%s: %s\n", n.ID, n.Error)
		}
	}
	return nil
}

// certsView is `kq certs init`.
type certsView struct {
	Dir     string   `json:"dir"`
	Created []string `json:"created"`
}

func (c certsView) table(w io.Writer) error {
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
