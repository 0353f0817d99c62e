// Package hubjoin gives an edge agent (pull mode) its credential in the management cluster: a
// ServiceAccount of its own, a Role that lets it read its own FleetCluster and patch that
// FleetCluster's status and nothing else (RBAC resourceNames), a RoleBinding, and a kubeconfig with a
// bound token of the ServiceAccount (TokenRequest). `vmo-cue hub join` runs it.
package hubjoin

import (
	"context"
	"fmt"
	"os"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/internal/controller"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// FieldManager is the field manager of what join writes.
const FieldManager = "vmo-cue-hub-join"

// Options say which cluster of which Fleet joins.
type Options struct {
	Namespace, Fleet, Cluster string
	// Server is the management cluster's address as the agent reaches it (default: the one the
	// joining client uses).
	Server string
	// TokenDuration is the requested lifetime of the token (the API server may shorten it).
	TokenDuration time.Duration
}

// Result names what was written; Kubeconfig is the agent's (it holds the token: never print it).
type Result struct {
	ServiceAccount, FleetCluster string
	Expires                      time.Time
	Kubeconfig                   []byte
}

// Name is the name of the ServiceAccount, Role and RoleBinding of a cluster's agent.
func Name(fleetCluster string) string { return "vmo-cue-agent." + fleetCluster }

// Rules are the agent's rights on the hub: its own FleetCluster (get, and list/watch restricted to it
// by a metadata.name field selector) and its status (get, patch). Nothing else: not other clusters'
// FleetClusters, not its own spec (the controller releases revisions there), not Secrets.
func Rules(fleetCluster string) []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{fleetv1.GroupVersion.Group}, Resources: []string{"fleetclusters"}, ResourceNames: []string{fleetCluster},
			Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{fleetv1.GroupVersion.Group}, Resources: []string{"fleetclusters/status"}, ResourceNames: []string{fleetCluster},
			Verbs: []string{"get", "patch"}},
	}
}

// Join writes the agent's ServiceAccount, Role and RoleBinding (server-side apply: joining again
// changes nothing but the token) and returns a kubeconfig with a new token. The Fleet must exist.
func Join(ctx context.Context, cfg *rest.Config, o Options) (*Result, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := fleetv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("management cluster: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("management cluster: %w", err)
	}
	return JoinWith(ctx, c, cs, cfg, o)
}

// JoinWith is Join with clients made already (c's scheme must know the core, RBAC and fleet types);
// cfg gives the kubeconfig's server and CA.
func JoinWith(ctx context.Context, c client.Client, cs kubernetes.Interface, cfg *rest.Config, o Options) (*Result, error) {
	if err := c.Get(ctx, client.ObjectKey{Namespace: o.Namespace, Name: o.Fleet}, &fleetv1.Fleet{}); err != nil {
		return nil, fmt.Errorf("Fleet %s/%s: %w", o.Namespace, o.Fleet, err)
	}
	fc := controller.FleetClusterName(o.Fleet, o.Cluster)
	name := Name(fc)
	labels := map[string]string{fleetv1.FleetLabel: o.Fleet, fleetv1.ClusterLabel: o.Cluster, "app.kubernetes.io/managed-by": "vmo-cue"}
	meta := func(kind, apiVersion string) (metav1.TypeMeta, metav1.ObjectMeta) {
		return metav1.TypeMeta{Kind: kind, APIVersion: apiVersion}, metav1.ObjectMeta{Name: name, Namespace: o.Namespace, Labels: labels}
	}
	sa := &corev1.ServiceAccount{}
	sa.TypeMeta, sa.ObjectMeta = meta("ServiceAccount", "v1")
	role := &rbacv1.Role{Rules: Rules(fc)}
	role.TypeMeta, role.ObjectMeta = meta("Role", "rbac.authorization.k8s.io/v1")
	binding := &rbacv1.RoleBinding{
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: o.Namespace}},
	}
	binding.TypeMeta, binding.ObjectMeta = meta("RoleBinding", "rbac.authorization.k8s.io/v1")
	for _, obj := range []client.Object{sa, role, binding} {
		if err := inventory.ApplyObject(ctx, c, obj, FieldManager); err != nil {
			return nil, fmt.Errorf("writing %s %s/%s: %w", obj.GetObjectKind().GroupVersionKind().Kind, o.Namespace, name, err)
		}
	}
	secs := int64(o.TokenDuration / time.Second)
	tr, err := cs.CoreV1().ServiceAccounts(o.Namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("a token of ServiceAccount %s/%s: %w", o.Namespace, name, err)
	}
	kc, err := kubeconfig(cfg, o, tr.Status.Token)
	if err != nil {
		return nil, err
	}
	return &Result{ServiceAccount: name, FleetCluster: fc, Expires: tr.Status.ExpirationTimestamp.Time, Kubeconfig: kc}, nil
}

// kubeconfig is the agent's kubeconfig: the hub's address and CA, the token, the Fleet's namespace.
func kubeconfig(cfg *rest.Config, o Options, token string) ([]byte, error) {
	server := o.Server
	if server == "" {
		server = cfg.Host
	}
	ca := cfg.CAData
	if len(ca) == 0 && cfg.CAFile != "" {
		data, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("the management cluster's CA file %s: %w", cfg.CAFile, err)
		}
		ca = data
	}
	k := clientcmdapi.NewConfig()
	k.Clusters["hub"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca, InsecureSkipTLSVerify: cfg.Insecure}
	k.AuthInfos["agent"] = &clientcmdapi.AuthInfo{Token: token}
	k.Contexts["hub"] = &clientcmdapi.Context{Cluster: "hub", AuthInfo: "agent", Namespace: o.Namespace}
	k.CurrentContext = "hub"
	data, err := clientcmd.Write(*k)
	if err != nil {
		return nil, fmt.Errorf("writing the agent's kubeconfig: %w", err)
	}
	return data, nil
}
