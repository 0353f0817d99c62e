package source

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRemote(t *testing.T) {
	kh := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(kh, nil, 0o600))
	key, _ := sshClientKey(t, "")
	sshAuth := Auth{SSHKeyFile: key, KnownHostsFile: kh}
	wd, err := os.Getwd()
	require.NoError(t, err)

	for _, tc := range []struct {
		url, kind, gitURL, display, key string
		auth                            Auth
	}{
		{"https://git:tok@git.example.com/org/fleet.git", "http", "https://git.example.com/org/fleet.git", "https://git.example.com/org/fleet.git", "https://git.example.com/org/fleet.git", Auth{}},
		{"https://Git.Example.com/org/fleet/", "http", "https://Git.Example.com/org/fleet/", "https://Git.Example.com/org/fleet/", "https://git.example.com/org/fleet", Auth{}},
		{"ssh://deploy@git.example.com:2222/org/fleet.git", "ssh", "ssh://deploy@git.example.com:2222/org/fleet.git", "ssh://git.example.com:2222/org/fleet.git", "ssh://git.example.com:2222/org/fleet.git", sshAuth},
		{"git@git.example.com:org/fleet.git", "ssh", "git@git.example.com:org/fleet.git", "git.example.com:org/fleet.git", "ssh://git.example.com:22/org/fleet.git", sshAuth},
		{"file:///srv/git/fleet", "file", "/srv/git/fleet", "/srv/git/fleet", "file:///srv/git/fleet", Auth{}},
		{"/srv/git/fleet/", "file", "/srv/git/fleet", "/srv/git/fleet", "file:///srv/git/fleet", Auth{}},
		{"fleet", "file", filepath.Join(wd, "fleet"), filepath.Join(wd, "fleet"), "file://" + filepath.Join(wd, "fleet"), Auth{}},
	} {
		r, err := parseRemote(Spec{URL: tc.url, Auth: tc.auth})
		require.NoError(t, err, tc.url)
		assert.Equal(t, tc.kind, r.kind, tc.url)
		assert.Equal(t, tc.gitURL, r.gitURL, tc.url)
		assert.Equal(t, tc.display, r.display, tc.url)
		assert.Equal(t, tc.key, r.key, tc.url)
	}

	for url, want := range map[string]string{
		"ssh://git:pw-123@host/fleet":             "a password in an ssh URL is not supported",
		"git://host/fleet":                        `unsupported URL scheme "git"`,
		"file://otherhost/srv/fleet":              "file:// URL with a host",
		"https://u:pw-123@host/%zz/fleet":         "the URL does not parse",
		"https://host/fleet?private_token=pw-123": "a query string in a git URL is not supported",
		"": "no URL given",
	} {
		_, err := parseRemote(Spec{URL: url, Auth: sshAuth})
		require.Error(t, err, url)
		assert.Contains(t, err.Error(), want, url)
		requireNoSecret(t, err.Error(), "pw-123")
	}
	_, err = parseRemote(Spec{URL: "/srv/fleet", CAFile: kh})
	assert.ErrorContains(t, err, "CAFile is only used with https URLs")
	_, err = parseRemote(Spec{URL: "https://host/fleet", CAFile: kh})
	assert.ErrorContains(t, err, "holds no PEM certificate")
}
