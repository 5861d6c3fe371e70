// Command kqd runs one keyquorum node.
//
//	kqd --config cluster.yaml --node n1
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/keyquorum/keyquorum/node"
	"github.com/keyquorum/keyquorum/node/config"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kqd:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("kqd", flag.ContinueOnError)
	cfgPath := fs.String("config", "cluster.yaml", "cluster configuration file")
	nodeID := fs.String("node", "", "id of this node in the cluster configuration")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	format := fs.String("log-format", "text", "text or json")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	if *nodeID == "" {
		return fmt.Errorf("--node is required")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if *format == "json" {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	log := slog.New(h)

	cluster, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := node.New(ctx, cluster, *nodeID, log)
	if err != nil {
		return err
	}
	return n.Run(ctx)
}
