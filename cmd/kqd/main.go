// Command kqd runs one keyquorum node.
//
//	kqd --config cluster.yaml --node n1 [--metrics 127.0.0.1:9464]
//	kqd restore --config cluster.yaml --node n2 --from BACKUP_DIR
//	kqd recover --force-new-cluster --config cluster.yaml --node n1 --members n1,n2
//
// restore and recover work offline, on a stopped node (docs/OPERATIONS.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/keyquorum/keyquorum/node"
	"github.com/keyquorum/keyquorum/node/clock"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/faults"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kqd:", err)
		os.Exit(1)
	}
}

// serveFaultAdmin exposes the clock-skew endpoint on a loopback address.
func serveFaultAdmin(ctx context.Context, addr string, c *clock.Skewed, log *slog.Logger) error {
	if err := clock.CheckLoopback(addr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("fault admin: %w", err)
	}
	srv := &http.Server{Handler: clock.AdminHandler(c), ReadHeaderTimeout: 5 * time.Second}
	log.Warn("fault-injection endpoint enabled: this node's clock can be skewed", "addr", addr)
	go func() { _ = srv.Serve(ln) }()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	return nil
}

func run() error {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "restore":
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			// It opens each restored share to check it: no core file.
			if err := hardenProcess(log); err != nil {
				return err
			}
			return runRestore(context.Background(), os.Args[2:], os.Stdout, log)
		case "recover":
			return runRecover(os.Args[2:], os.Stdin, os.Stdout)
		}
	}
	fs := flag.NewFlagSet("kqd", flag.ContinueOnError)
	cfgPath := fs.String("config", "cluster.yaml", "cluster configuration file")
	nodeID := fs.String("node", "", "id of this node in the cluster configuration")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	format := fs.String("log-format", "text", "text or json")
	faultAdmin := fs.String("fault-admin", "", "loopback address of a fault-injection endpoint that skews this node's clock (testing only)")
	metricsAddr := fs.String("metrics", "", "address of a plain-HTTP Prometheus endpoint, GET /metrics (off when empty); unauthenticated and free of secrets, so bind it to loopback or a monitoring network")
	reflect := fs.Bool("reflection", false, "serve gRPC server reflection on the client port, for grpcurl (callers still need a client certificate)")
	join := fs.Bool("join", false, "this node was added with `kq node add`: wait for the leader to add it to raft instead of bootstrapping")
	cpuProfile := fs.Bool("cpu-profile", false, "also serve GET /debug/pprof/profile?seconds=N (a CPU profile: sampled call stacks, no memory contents) on the --metrics listener, for performance work")
	bugList := fs.String("bugs", "", "deliberate bugs to switch on (kqd_bugs builds only): "+faults.Names())
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
	// Before any secret is read: a core file written later would hold
	// unsealed shares and pre-params.
	if err := hardenProcess(log); err != nil {
		return err
	}

	cluster, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if *cpuProfile && *metricsAddr == "" {
		return fmt.Errorf("--cpu-profile needs --metrics")
	}
	nodeOpts := node.Options{MetricsAddr: *metricsAddr, Reflection: *reflect, Join: *join, CPUProfile: *cpuProfile}
	if nodeOpts.Bugs, err = faults.Parse(*bugList); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *faultAdmin != "" {
		skewed := clock.NewSkewed(nil)
		if err := serveFaultAdmin(ctx, *faultAdmin, skewed, log); err != nil {
			return err
		}
		nodeOpts.Clock = skewed
	}
	n, err := node.New(ctx, cluster, *nodeID, log, nodeOpts)
	if err != nil {
		return err
	}
	return n.Run(ctx)
}
