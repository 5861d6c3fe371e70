package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyquorum/keyquorum/cmd/internal/progress"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
)

// options are the global flags and the process's streams.
type options struct {
	configPath string
	node       string
	output     string
	timeout    time.Duration
	// as, cert and key pick the client identity: a principal's pair in
	// DATA_DIR/certs, or any pair by path; neither means the bootstrap admin.
	as, cert, key string

	stdout, stderr io.Writer
	stderrTTY      bool // show progress on stderr
	stdoutTTY      bool // kq status --watch redraws the screen
	started        bool // a command's own code began running
	// atExit runs when the command returns: it closes the clients the
	// command made.
	atExit []func()
}

func (o *options) printer() render.Printer { return render.Printer{W: o.stdout, Format: o.output} }

// run executes kq with args and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// SIGTERM too: a supervisor stopping `kq up` must stop its nodes with it.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := &options{stdout: stdout, stderr: stderr, stderrTTY: progress.IsTerminal(stderr), stdoutTTY: progress.IsTerminal(stdout)}
	root := newRootCmd(opts)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	for _, f := range opts.atExit {
		f()
	}
	var usage usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errSilentFailure):
		return exitFailure
	case errors.As(err, &usage) || !opts.started:
		fmt.Fprintf(stderr, "kq: %v\nRun 'kq --help' for usage.\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "kq: %s\n", render.ErrorText(err))
		return exitFailure
	}
}

func newRootCmd(opts *options) *cobra.Command {
	root := &cobra.Command{
		Use:           "kq",
		Short:         "keyquorum client and operator CLI",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := cmd.ValidateRequiredFlags(); err != nil {
				return usageError{err}
			}
			opts.started = true
			if opts.output != render.FormatTable && opts.output != render.FormatJSON {
				return usagef("--output %q: want table or json", opts.output)
			}
			if opts.timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			if (opts.cert == "") != (opts.key == "") || opts.as != "" && opts.cert != "" {
				return usagef("give --cert and --key together, or --as, not both")
			}
			return nil
		},
	}
	root.SetOut(opts.stdout)
	root.SetErr(opts.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	f := root.PersistentFlags()
	f.StringVar(&opts.configPath, "config", "cluster.yaml", "cluster configuration file")
	f.StringVar(&opts.node, "node", "", "node id to talk to (default: the first node that answers)")
	f.StringVarP(&opts.output, "output", "o", render.FormatTable, "output format: table or json")
	f.DurationVar(&opts.timeout, "timeout", 60*time.Second, "time limit for the whole command")
	f.StringVar(&opts.as, "as", "", "act as this principal, with DATA_DIR/certs/NAME.pem and NAME.key (default: admin)")
	f.StringVar(&opts.cert, "cert", "", "client certificate file (with --key), instead of --as")
	f.StringVar(&opts.key, "key", "", "client private key file (with --cert)")
	// kq audit query and kq bench have their own --key (a key's name),
	// which shadows this one there; --cert-key works everywhere.
	f.StringVar(&opts.key, "cert-key", "", "the same as --key, for commands with their own --key")
	registerCompletions(root, opts)
	root.AddCommand(newCertsCmd(opts), newStatusCmd(opts), newKeyCmd(opts), newSignCmd(opts), newVerifyCmd(opts), newHandleCmd(opts), newNodesCmd(opts), newUpCmd(opts), newBenchCmd(opts), newAuditCmd(opts), newBlameCmd(opts), newNodeCmd(opts),
		newPolicyCmd(opts), newPrincipalCmd(opts), newBackupCmd(opts), newTenantCmd(opts), newOperatorCmd(opts), newCeremonyCmd(opts), newFreezeCmd(opts), newUnfreezeCmd(opts))
	return root
}

// exactArgs is cobra.ExactArgs reporting a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// maxArgs is cobra.MaximumNArgs reporting a usage error.
func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MaximumNArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
