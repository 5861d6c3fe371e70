package main

import (
	"github.com/spf13/cobra"

	"github.com/keyquorum/keyquorum/node/pki"
)

func newCertsCmd(opts *options) *cobra.Command {
	certs := &cobra.Command{Use: "certs", Short: "Manage the cluster's development certificates"}
	certs.AddCommand(&cobra.Command{
		Use:   "init",
		Short: "Create the CA and the node and client certificates that are missing",
		Long: "Create, in DATA_DIR/certs, the cluster CA, a certificate per node and the\n" +
			"operator client certificate, keeping every file that already exists.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := opts.loadCluster()
			if err != nil {
				return err
			}
			created, err := pki.Ensure(c.CertsDir(), c)
			if err != nil {
				return err
			}
			return opts.printer().print(certsView{Dir: c.CertsDir(), Created: nonNil(created)})
		},
	})
	return certs
}
