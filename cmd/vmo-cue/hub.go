package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vmo-cue/vmo-cue/internal/hubjoin"
)

// newHubCmd is `vmo-cue hub`: what the management cluster (the hub of a controller-managed Fleet)
// needs for pull clusters.
func newHubCmd() *cobra.Command {
	hub := &cobra.Command{Use: "hub", Short: "Manage the hub side of pull clusters (edge agents)"}
	var kubeconfig, kubeContext, ref, output string
	o := hubjoin.Options{}
	join := &cobra.Command{
		Use:   "join --fleet NAMESPACE/NAME --cluster NAME --output FILE",
		Short: "Give a pull cluster's agent its credential in the management cluster",
		Long: `join writes, in the Fleet's namespace, a ServiceAccount, a Role and a RoleBinding (all named
vmo-cue-agent.<fleet>.<cluster>) that let the cluster's agent get and watch its own FleetCluster and
get and patch that FleetCluster's status, and nothing else; then it writes to --output (mode 0600) a
kubeconfig with a token of that ServiceAccount (TokenRequest). Put that file in the edge cluster as
the agent's hub kubeconfig (a Secret, key kubeconfig). Running join again keeps the objects and gives
a new token. The token is never printed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ns, name, ok := strings.Cut(ref, "/")
			if !ok || ns == "" || name == "" {
				return fmt.Errorf("--fleet %s: want NAMESPACE/NAME", ref)
			}
			if o.Cluster == "" || output == "" {
				return fmt.Errorf("--cluster and --output are required")
			}
			o.Namespace, o.Fleet = ns, name
			cfg, err := managementConfig(kubeconfig, kubeContext)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			res, err := hubjoin.Join(ctx, cfg, o)
			if err != nil {
				return err
			}
			if err := os.WriteFile(output, res.Kubeconfig, 0o600); err != nil {
				return fmt.Errorf("writing the agent's kubeconfig: %w", err)
			}
			if err := os.Chmod(output, 0o600); err != nil {
				return fmt.Errorf("writing the agent's kubeconfig: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cluster %s joins Fleet %s/%s as ServiceAccount %s (FleetCluster %s); its hub kubeconfig is in %s, token valid until %s\n",
				o.Cluster, ns, name, res.ServiceAccount, res.FleetCluster, output, res.Expires.UTC().Format(time.RFC3339))
			return nil
		},
	}
	fl := join.Flags()
	fl.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the management cluster (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)")
	fl.StringVar(&kubeContext, "context", "", "context of --kubeconfig (default: its current context)")
	fl.StringVar(&ref, "fleet", "", "the Fleet, as NAMESPACE/NAME")
	fl.StringVar(&o.Cluster, "cluster", "", "the cluster's name, as the fleet repository declares it (with mode: \"pull\")")
	fl.StringVar(&o.Server, "server", "", "the management cluster's API address as the agent reaches it (default: the one used here)")
	fl.DurationVar(&o.TokenDuration, "token-duration", 365*24*time.Hour, "requested lifetime of the token (the API server may cap it)")
	fl.StringVarP(&output, "output", "o", "", "file to write the agent's kubeconfig to (mode 0600)")
	hub.AddCommand(join)
	return hub
}
