package controller

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
	"github.com/vmo-cue/vmo-cue/internal/source"
)

// WebhookKey is the key, in the Secret named by a Fleet's spec.source.secretRef, of the secret shared
// with the git server's webhook: the HMAC key of GitHub's and Gitea's signatures, GitLab's token. A
// Secret may hold only this key (a public repository needs no credentials).
const WebhookKey = "webhook-token"

// secret reads a Secret of the Fleet's namespace from the API server. Errors name it and the field
// that refers to it, never its content.
func (r *FleetReconciler) secret(ctx context.Context, namespace, name, field string) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
		return nil, fmt.Errorf("Secret %s/%s (%s): %w", namespace, name, field, err)
	}
	return s, nil
}

// sourceSpec is the Fleet's git source with its credentials. The ssh key, known_hosts and CA bundle
// are written to files in a private folder (0700, files 0600) of the cache, which cleanup removes:
// internal/source takes them as files. Nothing of them is logged or put in an error.
func (r *FleetReconciler) sourceSpec(ctx context.Context, f *fleetv1.Fleet) (spec source.Spec, cleanup func(), err error) {
	cleanup = func() {}
	src := f.Spec.Source
	spec = source.Spec{URL: src.URL, Ref: refOf(src.Ref), CacheDir: filepath.Join(r.CacheDir, "git"), Shallow: true, Timeout: f.GetTimeout()}
	if src.Verify != nil {
		s, err := r.secret(ctx, f.Namespace, src.Verify.SecretRef.Name, "spec.source.verify.secretRef")
		if err != nil {
			return spec, cleanup, err
		}
		keys := sortedKeys(s.Data)
		for _, k := range keys {
			spec.VerifyKeys = append(spec.VerifyKeys, string(s.Data[k]))
		}
		if len(keys) == 0 {
			return spec, cleanup, fmt.Errorf("Secret %s/%s (spec.source.verify.secretRef): no OpenPGP key in it", f.Namespace, s.Name)
		}
	}
	if src.SecretRef == nil {
		return spec, cleanup, nil
	}
	s, err := r.secret(ctx, f.Namespace, src.SecretRef.Name, "spec.source.secretRef")
	if err != nil {
		return spec, cleanup, err
	}
	cleanup, err = withCredentials(&spec, s.Data, r.CacheDir)
	if err != nil {
		return spec, cleanup, fmt.Errorf("Secret %s/%s (spec.source.secretRef): %w", f.Namespace, s.Name, err)
	}
	return spec, cleanup, nil
}

// withCredentials puts the credentials of a git Secret's data into spec: username and password (a
// token) for https; identity (with password as its passphrase) and known_hosts for ssh; ca.crt. The
// files internal/source wants are written into a new private folder (0700, files 0600) under
// cacheDir, which cleanup removes. A Secret with none of these keys (only the webhook's) gives no
// credentials.
func withCredentials(spec *source.Spec, d map[string][]byte, cacheDir string) (cleanup func(), err error) {
	cleanup = func() {}
	files := map[string][]byte{}
	if id, ok := d[fleetv1.IdentityKey]; ok {
		files[fleetv1.IdentityKey] = id
		spec.Auth.SSHKeyPassphrase = string(d[fleetv1.PasswordKey])
	} else {
		spec.Auth.Username, spec.Auth.Password = string(d[fleetv1.UsernameKey]), string(d[fleetv1.PasswordKey])
	}
	for _, k := range []string{fleetv1.KnownHostsKey, fleetv1.CACertKey} {
		if v, ok := d[k]; ok {
			files[k] = v
		}
	}
	if len(files) == 0 {
		return cleanup, nil
	}
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return cleanup, fmt.Errorf("cache folder %s: %w", cacheDir, err)
	}
	dir, err := os.MkdirTemp(cacheDir, ".credentials-")
	if err != nil {
		return cleanup, fmt.Errorf("a private folder for the credentials: %w", err)
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	for k, v := range files {
		if err := os.WriteFile(filepath.Join(dir, k), v, 0o600); err != nil {
			cleanup()
			return func() {}, fmt.Errorf("writing key %s to the private folder: %w", k, err)
		}
	}
	if _, ok := files[fleetv1.IdentityKey]; ok {
		spec.Auth.SSHKeyFile = filepath.Join(dir, fleetv1.IdentityKey)
	}
	if _, ok := files[fleetv1.KnownHostsKey]; ok {
		spec.Auth.KnownHostsFile = filepath.Join(dir, fleetv1.KnownHostsKey)
	}
	if _, ok := files[fleetv1.CACertKey]; ok {
		spec.CAFile = filepath.Join(dir, fleetv1.CACertKey)
	}
	return cleanup, nil
}

// clusterConfigs reads the Secrets labelled fleet.vmo-cue.dev/cluster in the Fleet's namespace and
// returns how to reach each cluster (fleet.Options.RESTConfig); pickClusterSecret chooses among
// several of one cluster.
func (r *FleetReconciler) clusterConfigs(ctx context.Context, f *fleetv1.Fleet) (func(cluster, context string) (*rest.Config, error), error) {
	var list corev1.SecretList
	if err := r.APIReader.List(ctx, &list, client.InNamespace(f.Namespace), client.HasLabels{fleetv1.ClusterLabel}); err != nil {
		return nil, fmt.Errorf("listing the Secrets labelled %s in namespace %s: %w", fleetv1.ClusterLabel, f.Namespace, err)
	}
	byCluster := map[string][]*corev1.Secret{}
	for i := range list.Items {
		s := &list.Items[i]
		name := s.Labels[fleetv1.ClusterLabel]
		byCluster[name] = append(byCluster[name], s)
	}
	return func(cluster, kubeContext string) (*rest.Config, error) {
		s, err := pickClusterSecret(byCluster[cluster], f, cluster)
		if err != nil {
			return nil, err
		}
		data, ok := s.Data[fleetv1.KubeconfigKey]
		where := fmt.Sprintf("Secret %s/%s", s.Namespace, s.Name)
		if !ok {
			return nil, fmt.Errorf("%s: no key %q", where, fleetv1.KubeconfigKey)
		}
		return restConfigFromKubeconfig(data, where, kubeContext)
	}, nil
}

// pickClusterSecret chooses the Secret of one cluster among those labelled with its name: the only
// one, or, when several Fleets of the namespace declare a cluster of that name, the one also labelled
// fleet.vmo-cue.dev/fleet=<this Fleet>. A Secret labelled for another Fleet is never used. Several
// candidates fail the cluster with their names (never their contents).
func pickClusterSecret(secrets []*corev1.Secret, f *fleetv1.Fleet, cluster string) (*corev1.Secret, error) {
	var mine, unlabelled []*corev1.Secret
	for _, s := range secrets {
		switch s.Labels[fleetv1.FleetLabel] {
		case f.Name:
			mine = append(mine, s)
		case "":
			unlabelled = append(unlabelled, s)
		}
	}
	cands, how := mine, fmt.Sprintf("labelled %s=%s and %s=%s", fleetv1.ClusterLabel, cluster, fleetv1.FleetLabel, f.Name)
	if len(mine) == 0 {
		cands, how = unlabelled, fmt.Sprintf("labelled %s=%s and no %s label", fleetv1.ClusterLabel, cluster, fleetv1.FleetLabel)
	}
	switch len(cands) {
	case 1:
		return cands[0], nil
	case 0:
		return nil, fmt.Errorf("no credentials: no Secret labelled %s=%s in namespace %s for Fleet %s (a Secret labelled %s=<another fleet> is not used)",
			fleetv1.ClusterLabel, cluster, f.Namespace, f.Name, fleetv1.FleetLabel)
	}
	names := make([]string, 0, len(cands))
	for _, s := range cands {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("%d Secrets %s in namespace %s (%s): keep one, or label the right one %s=%s",
		len(cands), how, f.Namespace, strings.Join(names, ", "), fleetv1.FleetLabel, f.Name)
}

// restConfigFromKubeconfig reads a kubeconfig from a Secret: its only context, or the cluster's
// declared one when it has several. What would make the controller run a program or read its own
// files — exec plugins, auth providers, paths to certificates, keys or tokens — is refused: a
// kubeconfig in a Secret carries its credentials itself. Errors never quote the kubeconfig.
func restConfigFromKubeconfig(data []byte, where, declared string) (*rest.Config, error) {
	raw, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("%s, key %s: not a valid kubeconfig", where, fleetv1.KubeconfigKey)
	}
	name := declared
	if len(raw.Contexts) == 1 {
		for n := range raw.Contexts {
			name = n
		}
	}
	kc, ok := raw.Contexts[name]
	if !ok {
		return nil, fmt.Errorf("%s: the kubeconfig has %d contexts and none is named %q (the cluster's declared context)", where, len(raw.Contexts), declared)
	}
	cl, ok := raw.Clusters[kc.Cluster]
	if !ok {
		return nil, fmt.Errorf("%s: context %q names cluster %q, which the kubeconfig does not define", where, name, kc.Cluster)
	}
	if cl.CertificateAuthority != "" {
		return nil, fmt.Errorf("%s: cluster %q: certificate-authority is a file path; put the certificate in certificate-authority-data", where, kc.Cluster)
	}
	if ai := raw.AuthInfos[kc.AuthInfo]; ai != nil {
		switch {
		case ai.Exec != nil:
			return nil, fmt.Errorf("%s: user %q: exec credential plugins are refused", where, kc.AuthInfo)
		case ai.AuthProvider != nil:
			return nil, fmt.Errorf("%s: user %q: auth providers are refused", where, kc.AuthInfo)
		case ai.ClientCertificate != "" || ai.ClientKey != "" || ai.TokenFile != "":
			return nil, fmt.Errorf("%s: user %q: client-certificate, client-key and tokenFile are file paths; put the credentials in the kubeconfig", where, kc.AuthInfo)
		}
	}
	raw.CurrentContext = name
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, name, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("%s, context %q: %w", where, name, err)
	}
	return cfg, nil
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
