package controller

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/vmo-cue/vmo-cue/internal/source"
)

const token = "t0ken-never-shown"

// kubeconfigOf writes a kubeconfig with the given contexts (each its own cluster and user, bearer
// token auth); change edits it before it is written.
func kubeconfigOf(t *testing.T, current string, contexts []string, change func(*clientcmdapi.Config)) []byte {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	for i, n := range contexts {
		cfg.Clusters[n] = &clientcmdapi.Cluster{Server: "https://10.0.0." + string(rune('1'+i)) + ":6443"}
		cfg.AuthInfos[n] = &clientcmdapi.AuthInfo{Token: token}
		cfg.Contexts[n] = &clientcmdapi.Context{Cluster: n, AuthInfo: n}
	}
	cfg.CurrentContext = current
	if change != nil {
		change(cfg)
	}
	data, err := clientcmd.Write(*cfg)
	require.NoError(t, err)
	return data
}

// TestRestConfigFromKubeconfig: the context used, and what a kubeconfig in a Secret may not do (run a
// program, read the controller's files). No error quotes the kubeconfig.
func TestRestConfigFromKubeconfig(t *testing.T) {
	const where = "Secret fleets/store"
	for _, tc := range []struct {
		name     string
		data     []byte
		declared string
		host     string
		err      string
	}{
		{name: "its only context, whatever its name", data: kubeconfigOf(t, "admin@store", []string{"admin@store"}, nil), declared: "edge-store-1",
			host: "https://10.0.0.1:6443"},
		{name: "the declared context among several, not the current one", data: kubeconfigOf(t, "a", []string{"a", "b"}, nil), declared: "b",
			host: "https://10.0.0.2:6443"},
		{name: "several contexts, none declared", data: kubeconfigOf(t, "a", []string{"a", "b"}, nil), declared: "c",
			err: `Secret fleets/store: the kubeconfig has 2 contexts and none is named "c" (the cluster's declared context)`},
		{name: "an exec plugin", data: kubeconfigOf(t, "a", []string{"a"}, func(c *clientcmdapi.Config) {
			c.AuthInfos["a"] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{Command: "/bin/sh", APIVersion: "client.authentication.k8s.io/v1"}}
		}), declared: "a", err: `Secret fleets/store: user "a": exec credential plugins are refused`},
		{name: "an auth provider", data: kubeconfigOf(t, "a", []string{"a"}, func(c *clientcmdapi.Config) {
			c.AuthInfos["a"] = &clientcmdapi.AuthInfo{AuthProvider: &clientcmdapi.AuthProviderConfig{Name: "oidc"}}
		}), declared: "a", err: `Secret fleets/store: user "a": auth providers are refused`},
		{name: "a token file", data: kubeconfigOf(t, "a", []string{"a"}, func(c *clientcmdapi.Config) {
			c.AuthInfos["a"] = &clientcmdapi.AuthInfo{TokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token"}
		}), declared: "a", err: `Secret fleets/store: user "a": client-certificate, client-key and tokenFile are file paths; put the credentials in the kubeconfig`},
		{name: "a CA file", data: kubeconfigOf(t, "a", []string{"a"}, func(c *clientcmdapi.Config) {
			c.Clusters["a"].CertificateAuthority = "/etc/ssl/ca.pem"
		}), declared: "a", err: `Secret fleets/store: cluster "a": certificate-authority is a file path; put the certificate in certificate-authority-data`},
		{name: "a context naming a missing cluster", data: kubeconfigOf(t, "a", []string{"a"}, func(c *clientcmdapi.Config) {
			c.Contexts["a"].Cluster = "gone"
		}), declared: "a", err: `Secret fleets/store: context "a" names cluster "gone", which the kubeconfig does not define`},
		{name: "not a kubeconfig", data: []byte("token: " + token + "\n\tbroken: [yaml"), declared: "a",
			err: "Secret fleets/store, key kubeconfig: not a valid kubeconfig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := restConfigFromKubeconfig(tc.data, where, tc.declared)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				assert.NotContains(t, err.Error(), token)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.host, cfg.Host)
			assert.Equal(t, token, cfg.BearerToken)
		})
	}
}

// TestWithCredentials: an ssh key and known_hosts go to files of a private folder that cleanup
// removes; https credentials stay in memory; a Secret holding only the webhook's key gives none.
func TestWithCredentials(t *testing.T) {
	cache := t.TempDir()
	spec := source.Spec{}
	cleanup, err := withCredentials(&spec, map[string][]byte{"identity": []byte("KEY"), "known_hosts": []byte("HOSTS"), "password": []byte("pass")}, cache)
	require.NoError(t, err)
	dir := filepath.Dir(spec.Auth.SSHKeyFile)
	assert.Equal(t, cache, filepath.Dir(dir))
	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	for file, want := range map[string]string{spec.Auth.SSHKeyFile: "KEY", spec.Auth.KnownHostsFile: "HOSTS"} {
		st, err := os.Stat(file)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), file)
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		assert.Equal(t, want, string(data))
	}
	assert.Equal(t, "pass", spec.Auth.SSHKeyPassphrase)
	assert.Empty(t, spec.Auth.Password)
	cleanup()
	_, err = os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "the private folder is removed")

	spec = source.Spec{}
	_, err = withCredentials(&spec, map[string][]byte{"username": []byte("bot"), "password": []byte(token)}, cache)
	require.NoError(t, err)
	assert.Equal(t, source.Auth{Username: "bot", Password: token}, spec.Auth)

	spec = source.Spec{}
	_, err = withCredentials(&spec, map[string][]byte{WebhookKey: []byte("hook")}, cache)
	require.NoError(t, err)
	assert.Equal(t, source.Spec{}, spec)
	entries, err := os.ReadDir(cache)
	require.NoError(t, err)
	assert.Empty(t, entries, "no file left in the cache")
}
