package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/pki"
)

func newCertsCmd(opts *options) *cobra.Command {
	certs := &cobra.Command{Use: "certs", Short: "Manage the cluster's development certificates"}
	certs.AddCommand(&cobra.Command{
		Use:   "init",
		Short: "Create the CA and the node and client certificates that are missing",
		Long: "Create, in DATA_DIR/certs, the cluster CA, a certificate per node and the\n" +
			"bootstrap principal admin's client certificate (client.pem), keeping every\n" +
			"file that already exists. The CA's private key goes to DATA_DIR/ca, which\n" +
			"kqd never reads; a ca.key left in DATA_DIR/certs by an older kq moves there.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return opts.writeCerts(func(dir string, c *config.Cluster) ([]string, error) {
				return pki.Ensure(dir, c)
			})
		},
	})
	var principal string
	var ttl time.Duration
	issue := &cobra.Command{
		Use:   "issue --principal NAME [--ttl 720h]",
		Short: "Mint a client certificate for a principal",
		Long: "Mint, from the dev CA in DATA_DIR/ca, a client certificate with identity\n" +
			"spiffe://<cluster>/client/NAME, written to DATA_DIR/certs/NAME.pem and NAME.key.\n" +
			"Use it with 'kq --as NAME'. What the principal may do is the policy's to say.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return opts.writeCerts(func(dir string, c *config.Cluster) ([]string, error) {
				return pki.IssuePrincipal(dir, c, principal, ttl)
			})
		},
	}
	issue.Flags().StringVar(&principal, "principal", "", "the principal's name")
	issue.Flags().DurationVar(&ttl, "ttl", 720*time.Hour, "how long the certificate is valid")
	_ = issue.MarkFlagRequired("principal")
	certs.AddCommand(issue)
	return certs
}

// writeCerts runs write on the configuration's certs directory and prints
// the files it created.
func (o *options) writeCerts(write func(dir string, c *config.Cluster) ([]string, error)) error {
	c, err := o.loadCluster()
	if err != nil {
		return err
	}
	created, err := write(c.CertsDir(), c)
	if err != nil {
		return err
	}
	return o.printer().Print(render.CertsView{Dir: c.CertsDir(), Created: render.NonNil(created)})
}
