package render

import (
	"fmt"
	"io"
	"time"

	"github.com/keyquorum/keyquorum/backup"
)

// BackupView is the `kq backup create -o json` contract.
type BackupView struct {
	Dir      string           `json:"dir"`
	Manifest *backup.Manifest `json:"manifest"`
}

func (v BackupView) Table(w io.Writer) error {
	m := v.Manifest
	fmt.Fprintf(w, "backup of %s in %s\n", m.ClusterID, v.Dir)
	fmt.Fprintf(w, "snapshot: index %d, term %d, %d keys, audit head %d\n", m.Snapshot.Index, m.Snapshot.Term, m.Keys, m.Audit.Seq)
	tw := NewTabWriter(w)
	fmt.Fprintln(tw, "NODE\tFILES\tBYTES\tNOTE")
	for _, n := range m.Nodes {
		note := "ok"
		if n.Error != "" {
			note = "LEFT OUT: " + n.Error
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", n.ID, n.Files, n.Bytes, note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "signed by audit key %s (%s)\n", m.Audit.Key, m.Audit.PublicKey)
	return err
}

// VerifyBackupView is the `kq backup verify -o json` contract.
type VerifyBackupView struct {
	Dir      string           `json:"dir"`
	OK       bool             `json:"ok"`
	Problems []string         `json:"problems"`
	Manifest *backup.Manifest `json:"manifest"`
}

func (v VerifyBackupView) Table(w io.Writer) error {
	m := v.Manifest
	if v.OK {
		_, err := fmt.Fprintf(w, "OK: backup of %s taken %s, snapshot index %d, %d keys, %d files; signed by audit key %s\n",
			m.ClusterID, m.Created.Format(time.RFC3339), m.Snapshot.Index, m.Keys, len(m.Files), m.Audit.PublicKey)
		return err
	}
	fmt.Fprintf(w, "BACKUP DOES NOT VERIFY: %s\n", v.Dir)
	for _, p := range v.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
	_, err := fmt.Fprintln(w, "do not restore from this backup")
	return err
}
