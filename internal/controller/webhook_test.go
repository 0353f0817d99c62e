package controller

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
)

func sign(secret, body string) string {
	return hmacHexOf([]byte(secret), []byte(body))
}

// TestVerifySignature: each git server's way of signing a webhook, right and wrong.
func TestVerifySignature(t *testing.T) {
	const secret, body = "s3cret", `{"ref":"refs/heads/main"}`
	for _, tc := range []struct {
		name     string
		headers  map[string]string
		provider string
		err      error
	}{
		{"GitHub", map[string]string{"X-Hub-Signature-256": "sha256=" + sign(secret, body)}, "github", nil},
		{"GitHub, another key", map[string]string{"X-Hub-Signature-256": "sha256=" + sign("other", body)}, "github", errBadSignature},
		{"GitHub, no sha256= prefix", map[string]string{"X-Hub-Signature-256": sign(secret, body)}, "github", errBadSignature},
		{"GitHub, another body", map[string]string{"X-Hub-Signature-256": "sha256=" + sign(secret, body+" ")}, "github", errBadSignature},
		{"Gitea", map[string]string{"X-Gitea-Signature": sign(secret, body)}, "gitea", nil},
		{"Gitea, not hex", map[string]string{"X-Gitea-Signature": "zz"}, "gitea", errBadSignature},
		{"Gitea, another key", map[string]string{"X-Gitea-Signature": sign("other", body)}, "gitea", errBadSignature},
		{"GitLab", map[string]string{"X-Gitlab-Token": secret}, "gitlab", nil},
		{"GitLab, another token", map[string]string{"X-Gitlab-Token": secret + "x"}, "gitlab", errBadSignature},
		{"none", map[string]string{"X-GitHub-Event": "push"}, "", errNoSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.headers {
				h.Set(k, v)
			}
			provider, err := verifySignature(h, []byte(body), []byte(secret))
			assert.Equal(t, tc.provider, provider)
			assert.Equal(t, tc.err, err)
		})
	}
}

// TestPushedRefAndFollows: which pushes move what a Fleet follows.
func TestPushedRefAndFollows(t *testing.T) {
	branch := &fleetv1.Fleet{Spec: fleetv1.FleetSpec{Source: fleetv1.GitSource{Ref: &fleetv1.GitRef{Branch: "main"}}}}
	tag := &fleetv1.Fleet{Spec: fleetv1.FleetSpec{Source: fleetv1.GitSource{Ref: &fleetv1.GitRef{Tag: "v1"}}}}
	head := &fleetv1.Fleet{}
	pinned := &fleetv1.Fleet{Spec: fleetv1.FleetSpec{Source: fleetv1.GitSource{Ref: &fleetv1.GitRef{Commit: "0123456789012345678901234567890123456789"}}}}
	for _, tc := range []struct {
		name string
		f    *fleetv1.Fleet
		ref  string
		want bool
	}{
		{"its branch", branch, "refs/heads/main", true},
		{"another branch", branch, "refs/heads/feature", false},
		{"a tag named like the branch", branch, "refs/tags/main", false},
		{"its tag", tag, "refs/tags/v1", true},
		{"another tag", tag, "refs/tags/v2", false},
		{"HEAD: any push", head, "refs/heads/anything", true},
		{"a payload without ref", branch, "", true},
		{"a pinned commit", pinned, "refs/heads/main", false},
	} {
		assert.Equal(t, tc.want, follows(tc.f, tc.ref), tc.name)
	}

	h := http.Header{}
	h.Set("X-GitHub-Event", "ping")
	ping, _, err := pushedRef(h, []byte(`{"zen":"Keep it logically awesome."}`))
	assert.NoError(t, err)
	assert.True(t, ping)
	h = http.Header{}
	h.Set("X-Gitlab-Event", "Push Hook")
	ping, ref, err := pushedRef(h, []byte(`{"object_kind":"push","ref":"refs/heads/main"}`))
	assert.NoError(t, err)
	assert.False(t, ping)
	assert.Equal(t, "refs/heads/main", ref)
	_, _, err = pushedRef(h, []byte(`ref=main`))
	assert.ErrorContains(t, err, "payload is not JSON")
}
