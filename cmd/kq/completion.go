package main

import (
	"github.com/spf13/cobra"

	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
)

// kq completion bash|zsh|fish|powershell is cobra's: the scripts call
// `kq __complete`, which completes commands and flags, and the flag values
// registered here. README "Shell completion" shows how to load them.

// completeWords completes a flag's value from a fixed list.
func completeWords(words ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return words, cobra.ShellCompDirectiveNoFileComp
	}
}

// registerCompletions adds the value completions of the global flags:
// --output's formats and --node's ids, read from the --config given.
func registerCompletions(root *cobra.Command, opts *options) {
	_ = root.RegisterFlagCompletionFunc("output", completeWords(render.FormatTable, render.FormatJSON))
	_ = root.RegisterFlagCompletionFunc("node", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		c, err := opts.loadCluster()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return c.NodeIDs(), cobra.ShellCompDirectiveNoFileComp
	})
}
