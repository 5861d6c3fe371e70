package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// TenantView is one tenant in `kq tenant` output.
type TenantView struct {
	Name       string `json:"name"`
	Listed     bool   `json:"listed"`
	Generation uint32 `json:"generation"`
	Keys       uint32 `json:"keys"`
	KeyWeight  uint32 `json:"key_weight"`
	Quota      string `json:"quota,omitempty"`
	Deleted    bool   `json:"deleted"`
	// DeletedGeneration is the generation the last deletion shredded.
	DeletedGeneration uint32   `json:"deleted_generation,omitempty"`
	Shredded          []string `json:"shredded,omitempty"` // nodes that reported the last deletion's key shredded
}

// NewTenantView reads a tenant; nil when the answer carries none.
func NewTenantView(t *kqpb.Tenant) *TenantView {
	if t == nil {
		return nil
	}
	return &TenantView{Name: t.Name, Listed: t.Listed, Generation: t.Generation, Keys: t.Keys, KeyWeight: t.KeyWeight,
		Quota: t.QuotaJson, Deleted: t.Deleted, DeletedGeneration: t.DeletedGeneration, Shredded: t.Shredded}
}

// TenantChangeView is `kq tenant create` and `kq tenant delete`.
type TenantChangeView struct {
	Note   string      `json:"note"`
	Tenant *TenantView `json:"tenant,omitempty"`
	// Pending lists the nodes that have not reported their key shredded
	// yet (delete); they do when they next run.
	Pending []string `json:"pending_shred,omitempty"`
}

func (v TenantChangeView) Table(w io.Writer) error {
	fmt.Fprintln(w, v.Note)
	if t := v.Tenant; t != nil && t.Deleted {
		fmt.Fprintf(w, "key shredded on: %s\n", orNone(t.Shredded))
		if len(v.Pending) > 0 {
			fmt.Fprintf(w, "not yet reported: %s\n", strings.Join(v.Pending, ", "))
		}
	}
	return nil
}

// TenantListView is `kq tenant list`, with the nodes a deletion must reach.
type TenantListView struct {
	Tenants []TenantView `json:"tenants"`
	Nodes   []string     `json:"nodes"`
}

func (v TenantListView) Table(w io.Writer) error {
	tw := NewTabWriter(w)
	fmt.Fprintln(tw, "TENANT\tSTATE\tGENERATION\tKEYS\tWEIGHT\tQUOTA\tSHREDDED")
	for _, t := range v.Tenants {
		state := "active"
		switch {
		case !t.Listed && t.Deleted:
			state = "deleted"
		case !t.Listed:
			state = "unlisted"
		}
		shred := "-"
		if t.Deleted {
			shred = fmt.Sprintf("g%d on %d/%d", t.DeletedGeneration, len(t.Shredded), len(v.Nodes))
		}
		quota := t.Quota
		if quota == "" {
			quota = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", t.Name, state, t.Generation, t.Keys, t.KeyWeight, quota, shred)
	}
	return tw.Flush()
}

// orNone lists the nodes, or says none have reported yet.
func orNone(s []string) string {
	if len(s) == 0 {
		return "none yet"
	}
	return strings.Join(s, ", ")
}
