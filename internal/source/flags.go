package source

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Flags are the fleet repository's command-line flags, shared by `vmo-cue sync` and the agent.
type Flags struct {
	repo, ref, cacheDir, username, tokenFile, sshKey, knownHosts, caFile string
	verifyKeys                                                           []string
	shallow, allowInsecureHTTP                                           bool
}

// Register adds the flags to fl.
func (f *Flags) Register(fl *pflag.FlagSet) {
	fl.StringVar(&f.repo, "repo", "", "the fleet repository: https://, ssh://, user@host:path, file:// or a local path (required)")
	fl.StringVar(&f.ref, "ref", "", "branch, tag (tag:NAME) or commit to follow (default: the remote's default branch)")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "git clone cache (default: the user cache directory)")
	fl.BoolVar(&f.shallow, "shallow", true, "fetch with depth 1")
	fl.StringVar(&f.username, "username", "", "https username (default git)")
	fl.StringVar(&f.tokenFile, "token-file", "", "file holding the https token or password (else $VMO_GIT_TOKEN)")
	fl.StringVar(&f.sshKey, "ssh-key", "", "ssh private key file")
	fl.StringVar(&f.knownHosts, "known-hosts", "", "known_hosts file with the ssh server's host key (required for ssh)")
	fl.StringVar(&f.caFile, "ca-file", "", "extra CA certificates (PEM) for https")
	fl.BoolVar(&f.allowInsecureHTTP, "allow-insecure-http", false, "send credentials over a plain http:// URL, in clear text (a local test server only)")
	fl.StringArrayVar(&f.verifyKeys, "verify-key", nil, "armored OpenPGP public key file: the commit must be signed by one of them (repeatable)")
}

// Spec returns the Spec the flags describe, credentials read from their files.
func (f *Flags) Spec() (Spec, error) {
	if f.repo == "" {
		return Spec{}, fmt.Errorf("--repo is required")
	}
	spec := Spec{URL: f.repo, Ref: f.ref, CacheDir: f.cacheDir, Shallow: f.shallow, CAFile: f.caFile, Timeout: 2 * time.Minute,
		AllowInsecureHTTP: f.allowInsecureHTTP,
		Auth:              Auth{Username: f.username, SSHKeyFile: f.sshKey, KnownHostsFile: f.knownHosts}}
	if f.tokenFile != "" {
		data, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return spec, fmt.Errorf("--token-file: %w", err)
		}
		spec.Auth.Password = strings.TrimSpace(string(data))
	} else if tok := os.Getenv("VMO_GIT_TOKEN"); tok != "" {
		spec.Auth.Password = tok
	}
	for _, k := range f.verifyKeys {
		data, err := os.ReadFile(k)
		if err != nil {
			return spec, fmt.Errorf("--verify-key: %w", err)
		}
		spec.VerifyKeys = append(spec.VerifyKeys, string(data))
	}
	return spec, nil
}
