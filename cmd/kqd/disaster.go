package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/keyquorum/keyquorum/node"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/store"
)

// runRestore is `kqd restore --from DIR --node ID`: it rebuilds a node's
// data directory from a backup, offline, for a node whose disk was lost
// and whose TPM survived. Start kqd on the node afterwards.
func runRestore(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("kqd restore", flag.ContinueOnError)
	cfgPath := fs.String("config", "cluster.yaml", "cluster configuration file")
	nodeID := fs.String("node", "", "id of the node to restore")
	from := fs.String("from", "", "backup directory (kq backup create --out)")
	pinHex := fs.String("audit-public-key", "", "expected audit public key, hex Ed25519 (recommended)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nodeID == "" || *from == "" {
		return errors.New("restore: --node and --from are required")
	}
	var pin ed25519.PublicKey
	if *pinHex != "" {
		b, err := hex.DecodeString(*pinHex)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return fmt.Errorf("restore: --audit-public-key: want %d hex bytes", ed25519.PublicKeySize)
		}
		pin = b
	}
	cluster, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	r, err := store.Restore(ctx, cluster, *nodeID, *from, pin, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s from %s: raft snapshot at index %d (term %d), %d sealed shares, pre-params %v, sealed KEK restored %v\n",
		r.Node, *from, r.SnapshotIndex, r.SnapshotTerm, r.Shares, r.PreParams, r.KEK)
	fmt.Fprintf(stdout, "start it: kqd --config %s --node %s; it catches up from the leader's log after index %d\n", *cfgPath, r.Node, r.SnapshotIndex)
	return nil
}

// runRecover is `kqd recover --force-new-cluster`: it rewrites a
// surviving member's raft configuration, offline, when a majority is gone
// for good. Gated twice: the flag, and the cluster id typed back (or
// --yes for scripts that already asked).
func runRecover(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("kqd recover", flag.ContinueOnError)
	cfgPath := fs.String("config", "cluster.yaml", "cluster configuration file")
	nodeID := fs.String("node", "", "id of this surviving node")
	force := fs.Bool("force-new-cluster", false, "force a new raft configuration of --members (required)")
	members := fs.String("members", "", "comma-separated ids of every surviving member, the same on each (default: --node alone)")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*force {
		return errors.New("recover: only --force-new-cluster is supported, and it must be given explicitly")
	}
	if *nodeID == "" {
		return errors.New("recover: --node is required")
	}
	list := []string{*nodeID}
	if *members != "" {
		list = strings.Split(*members, ",")
	}
	cluster, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "This forces cluster %s's raft configuration to %v on %s.\n"+
		"Every entry in %s's log becomes committed, including any the lost members never\n"+
		"committed. Run it only when the other members are gone for good, on every survivor\n"+
		"with the same --members, the survivor with the longest log first.\n", cluster.ID, list, *nodeID, *nodeID)
	if !*yes {
		fmt.Fprintf(stdout, "Type the cluster id (%s) to go on: ", cluster.ID)
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(line) != cluster.ID {
			return errors.New("recover: not confirmed; nothing changed")
		}
	}
	rec, err := node.ForceNewCluster(cluster, *nodeID, list, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "recovered %s: raft configuration %v (was %v), last entry %d (term %d).\n"+
		"Start kqd on every survivor; the recovery is audited once the cluster runs.\n",
		*nodeID, rec.Members, rec.Previous, rec.LastIndex, rec.LastTerm)
	return nil
}
