package render

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/keyquorum/keyquorum/consensus/audit"
)

// AuditQueryView is `kq audit query`: records in the export's JSON form.
type AuditQueryView struct {
	Records       []audit.Record `json:"records"`
	NextPageToken string         `json:"next_page_token"`
}

func (v AuditQueryView) Table(w io.Writer) error {
	tw := NewTabWriter(w)
	fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tOP\tKEY\tREQUEST\tOUTCOME\tCOUNT\tREASON")
	for _, r := range v.Records {
		when := "-"
		if r.Time != 0 {
			when = time.Unix(0, r.Time).UTC().Format(time.RFC3339)
		}
		count := ""
		if r.Count > 0 {
			count = strconv.FormatUint(r.Count, 10)
		}
		key := r.Key
		if r.Version > 0 {
			key = fmt.Sprintf("%s/v%d", r.Key, r.Version)
		}
		reason := r.Reason
		if c := r.Checkpoint; c != nil {
			reason = fmt.Sprintf("signs head of seq %d", c.Seq)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, when, cell(r.Actor), cell(r.Op), cell(key),
			cell(r.RequestID), r.Outcome, count, truncateCell(reason, 80))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if v.NextPageToken != "" {
		_, err := fmt.Fprintf(w, "more: --page-token %s\n", v.NextPageToken)
		return err
	}
	return nil
}

// cell keeps a table cell on one line; records hold escaped strings
// already, this also keeps tabs from shifting columns.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
}

// truncateCell is cell cut to n bytes, marked with "..." when cut.
func truncateCell(s string, n int) string {
	s = cell(s)
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}

// VerifyReportView is `kq audit verify` when the chain verifies.
type VerifyReportView audit.Report

func (v VerifyReportView) Table(w io.Writer) error {
	fmt.Fprintf(w, "OK: %d records, seq %d to %d, head %s\n", v.Records, v.FirstSeq, v.LastSeq, v.Head)
	if !v.SignaturesChecked {
		_, err := fmt.Fprintln(w, "checkpoint signatures NOT checked (no audit key)")
		return err
	}
	unsigned := v.LastSeq - max(v.LastCheckpointSeq, v.FirstSeq-1)
	_, err := fmt.Fprintf(w, "%d checkpoint signatures valid; the newest covers seq %d; %d records after it are linked but not yet signed\n",
		v.Checkpoints, v.LastCheckpointSeq, unsigned)
	return err
}

// AuditHeadView is `kq audit head`.
type AuditHeadView struct {
	Node           string `json:"node"`
	Seq            uint64 `json:"seq"`
	Hash           string `json:"hash"`
	CheckpointSeq  uint64 `json:"checkpoint_seq"`
	CheckpointHead string `json:"checkpoint_head"`
	FirstSeq       uint64 `json:"first_seq"`
	AuditKeyState  string `json:"audit_key_state"`
	AuditPublicKey string `json:"audit_public_key"`
}

func (v AuditHeadView) Table(w io.Writer) error {
	tw := NewTabWriter(w)
	fmt.Fprintf(tw, "node\t%s\n", v.Node)
	fmt.Fprintf(tw, "head\tseq %d  %s\n", v.Seq, v.Hash)
	fmt.Fprintf(tw, "checkpoint\tseq %d  %s\n", v.CheckpointSeq, v.CheckpointHead)
	fmt.Fprintf(tw, "export from\tseq %d\n", v.FirstSeq)
	fmt.Fprintf(tw, "audit key\t%s %s\n", v.AuditKeyState, v.AuditPublicKey)
	return tw.Flush()
}
