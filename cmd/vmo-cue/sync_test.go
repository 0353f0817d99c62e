package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fleetRepo makes a git repository holding the base fleet of testdata/vet, committed (signed by key
// if not nil).
func fleetRepo(t *testing.T, key *openpgp.Entity) string {
	dir := t.TempDir()
	copyDir(t, filepath.Join("..", "..", "testdata", "vet", "base"), dir)
	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	wt, err := repo.Worktree()
	require.NoError(t, err)
	require.NoError(t, wt.AddGlob("."))
	_, err = wt.Commit("fleet", &git.CommitOptions{SignKey: key,
		Author: &object.Signature{Name: "ops", Email: "ops@example.com", When: time.Now()}})
	require.NoError(t, err)
	return dir
}

func TestSyncVerifiesCommitSignatures(t *testing.T) {
	key, err := openpgp.NewEntity("fleet signer", "", "signer@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	require.NoError(t, err)
	var pub strings.Builder
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	require.NoError(t, err)
	require.NoError(t, key.Serialize(w))
	require.NoError(t, w.Close())
	keyFile := filepath.Join(t.TempDir(), "signer.asc")
	require.NoError(t, os.WriteFile(keyFile, []byte(pub.String()), 0o600))
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig") // no cluster is reached: the selector matches none

	for _, tc := range []struct {
		name   string
		signed bool
		code   int
		want   string
	}{
		{"signed commit syncs", true, 0, "signed by fleet signer"},
		{"unsigned commit is refused, nothing applied", false, 2, "is not signed: a signature by one of the 1 VerifyKeys is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var signer *openpgp.Entity
			if tc.signed {
				signer = key
			}
			repo := fleetRepo(t, signer)
			var out, errOut bytes.Buffer
			code := run([]string{"sync", "--repo", repo, "--verify-key", keyFile, "--kubeconfig", kubeconfig,
				"--selector", "nobody=here", "--cache-dir", t.TempDir(), "--state-dir", t.TempDir()}, &out, &errOut)
			assert.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
			assert.Contains(t, errOut.String(), tc.want)
			if !tc.signed {
				assert.NotContains(t, out.String(), "CLUSTER", "no rollout started")
			}
		})
	}
}

func TestSyncRefusesFleetLevelErrors(t *testing.T) {
	repo := fleetRepo(t, nil)
	require.NoError(t, os.WriteFile(filepath.Join(repo, "fleet.cue"), []byte("package fleet\n\nfleet: defaults: stack: kubevirt: version: 1.6\n"), 0o644))
	r, err := git.PlainOpen(repo)
	require.NoError(t, err)
	wt, err := r.Worktree()
	require.NoError(t, err)
	_, err = wt.Add("fleet.cue")
	require.NoError(t, err)
	_, err = wt.Commit("break the shared definitions", &git.CommitOptions{Author: &object.Signature{Name: "ops", Email: "ops@example.com", When: time.Now()}})
	require.NoError(t, err)
	var out, errOut bytes.Buffer
	code := run([]string{"sync", "--repo", repo, "--kubeconfig", filepath.Join(t.TempDir(), "none"),
		"--cache-dir", t.TempDir(), "--state-dir", t.TempDir()}, &out, &errOut)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut.String(), "shared definitions do not validate")
	assert.Contains(t, errOut.String(), "nothing applied anywhere")
	assert.Contains(t, errOut.String(), "./fleet.cue:3:")
}

// A token over a plain http:// remote is refused before anything is sent, naming the URL without it;
// --allow-insecure-http lets it through (here to a port nothing listens on).
func TestSyncRefusesCredentialsOverPlainHTTP(t *testing.T) {
	const token = "glpat-Sync0verHttp"
	t.Setenv("VMO_GIT_TOKEN", token)
	args := []string{"sync", "--repo", "http://deploy:" + token + "@127.0.0.1:1/fleet.git", "--kubeconfig", filepath.Join(t.TempDir(), "none"),
		"--cache-dir", t.TempDir(), "--state-dir", t.TempDir()}

	code, out, stderr := cli(t, args...)
	assert.Equal(t, exitError, code)
	assert.Empty(t, out)
	assert.Equal(t, "vmo-cue: git source http://127.0.0.1:1/fleet.git: credentials refused over plain http: they would cross the network "+
		"in clear text (use https, or AllowInsecureHTTP (--allow-insecure-http) for a local test server)\n", stderr)

	code, _, stderr = cli(t, append(args, "--allow-insecure-http")...)
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr, "git source http://127.0.0.1:1/fleet.git: remote unreachable")
	assert.NotContains(t, stderr, token)
}
