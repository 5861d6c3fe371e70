package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"os"

	"github.com/spf13/cobra"

	"github.com/keyquorum/keyquorum/backup"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/takebackup"
)

func newBackupCmd(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Back up the cluster's replicated state and sealed shares, and verify a backup",
		Long: "A backup holds a raft snapshot of the replicated state (keys, versions, policy,\n" +
			"handle hashes, the audit chain's head), every reachable node's sealed files, and\n" +
			"a manifest of SHA-256 hashes signed by the cluster's audit key. Nothing in it is\n" +
			"plaintext key material: sealed files open only with the TPM that sealed them, so\n" +
			"a backup restores a node whose disk was lost, never one whose TPM was lost\n" +
			"(docs/OPERATIONS.md).",
	}
	cmd.AddCommand(newBackupCreateCmd(opts), newBackupVerifyCmd(opts))
	return cmd
}

func newBackupCreateCmd(opts *options) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "create --out DIR",
		Short: "Write a signed backup of the cluster to DIR (new or empty)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := opts.client()
			if err != nil {
				return err
			}
			w, err := backup.NewWriter(out)
			if err != nil {
				return err
			}
			m, err := takebackup.Take(cmd.Context(), c, w, takebackup.Options{Stderr: opts.stderr, StderrTTY: opts.stderrTTY,
				Heartbeat: heartbeat, Timeout: opts.timeout})
			if err != nil {
				return err
			}
			return opts.printer().Print(render.BackupView{Dir: out, Manifest: m})
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write the backup to (created; must be empty)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func newBackupVerifyCmd(opts *options) *cobra.Command {
	var pinHex string
	cmd := &cobra.Command{
		Use:   "verify DIR",
		Short: "Check a backup offline: signature, every file's hash, the snapshot",
		Long: "Needs no cluster. Checks the manifest's signature by the audit key, every file's\n" +
			"size and SHA-256, that no file is missing or added, and that the snapshot decodes\n" +
			"as a replica would decode it and names the same audit key and chain head. Give\n" +
			"--audit-public-key (hex, from `kq key get _audit`) to also pin the key.\n" +
			"Exit status 1 when the backup does not verify.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var pin ed25519.PublicKey
			if pinHex != "" {
				b, err := hex.DecodeString(pinHex)
				if err != nil || len(b) != ed25519.PublicKeySize {
					return usagef("--audit-public-key: want %d hex bytes", ed25519.PublicKeySize)
				}
				pin = b
			}
			if _, err := os.Stat(args[0]); err != nil {
				return err
			}
			rep, err := backup.Verify(args[0], pin)
			if rep == nil {
				return err
			}
			v := render.VerifyBackupView{Dir: args[0], OK: err == nil, Problems: rep.Problems, Manifest: rep.Manifest}
			if v.Problems == nil {
				v.Problems = []string{}
			}
			if perr := opts.printer().Print(v); perr != nil {
				return perr
			}
			return err
		},
	}
	cmd.Flags().StringVar(&pinHex, "audit-public-key", "", "expected audit public key, hex Ed25519")
	return cmd
}
