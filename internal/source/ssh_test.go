package source

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshServer is a loopback SSH server that runs git-upload-pack for the repositories under root, for
// clients holding the authorized key.
type sshServer struct {
	addr    string
	hostKey ssh.PublicKey
	l       net.Listener
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
	closed  bool
}

func startSSHServer(t *testing.T, root string, authorized ssh.PublicKey) *sshServer {
	t.Helper()
	if _, err := exec.LookPath("git-upload-pack"); err != nil {
		t.Fatalf("git-upload-pack not on PATH: install git (Debian package git; hack/ci-deps.sh does it): %v", err)
	}
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	require.NoError(t, err)
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if string(key.Marshal()) == string(authorized.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("key not authorized")
		},
	}
	cfg.AddHostKey(hostSigner)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &sshServer{addr: l.Addr().String(), hostKey: hostSigner.PublicKey(), l: l}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns = append(s.conns, c)
			s.wg.Add(1)
			s.mu.Unlock()
			go func() {
				defer s.wg.Done()
				s.serveConn(t, c, cfg, root)
			}()
		}
	}()
	t.Cleanup(s.stop)
	return s
}

func (s *sshServer) stop() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	_ = s.l.Close()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *sshServer) serveConn(t *testing.T, c net.Conn, cfg *ssh.ServerConfig, root string) {
	defer c.Close()
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return // refused host key or client key: the client reports it
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		s.serveSession(t, ch, chReqs, root)
	}
}

// serveSession runs "git-upload-pack '<path>'" (the only command served) with the channel as its
// standard streams, then reports the exit status.
func (s *sshServer) serveSession(t *testing.T, ch ssh.Channel, reqs <-chan *ssh.Request, root string) {
	defer ch.Close()
	for req := range reqs {
		switch req.Type {
		case "env":
			_ = req.Reply(true, nil)
		case "exec":
			var payload struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
				_ = req.Reply(false, nil)
				return
			}
			verb, arg, _ := strings.Cut(payload.Command, " ")
			repoPath := strings.Trim(arg, `'"`)
			if verb != "git-upload-pack" || strings.Contains(repoPath, "..") {
				_ = req.Reply(false, nil)
				return
			}
			_ = req.Reply(true, nil)
			cmd := exec.Command("git-upload-pack", filepath.Join(root, filepath.FromSlash(path.Clean("/"+repoPath))))
			cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Errorf("ssh server: %v", err)
				return
			}
			cmd.Stdout = ch
			cmd.Stderr = ch.Stderr()
			status := uint32(0)
			if err := cmd.Start(); err != nil {
				status = 127
			} else {
				go func() { _, _ = io.Copy(stdin, ch); _ = stdin.Close() }()
				if err := cmd.Wait(); err != nil {
					status = 1
					var ee *exec.ExitError
					if errors.As(err, &ee) {
						status = uint32(ee.ExitCode())
					}
				}
			}
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}

// sshClientKey writes a new private key: ed25519 in OpenSSH format, or, with a passphrase, ECDSA in
// passphrase-encrypted PEM (OpenSSH's own encrypted format uses bcrypt, ~10 s per parse under -race;
// both go through the same x/crypto call).
func sshClientKey(t *testing.T, passphrase string) (string, ssh.PublicKey) {
	t.Helper()
	var block *pem.Block
	var signer ssh.Signer
	if passphrase == "" {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		block, err = ssh.MarshalPrivateKey(priv, "fleet test key")
		require.NoError(t, err)
		signer, err = ssh.NewSignerFromKey(priv)
		require.NoError(t, err)
	} else {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		der, err := x509.MarshalECPrivateKey(priv)
		require.NoError(t, err)
		//lint:ignore SA1019 legacy PEM encryption is what `ssh-keygen -m PEM` writes: the key format under test
		block, err = x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", der, []byte(passphrase), x509.PEMCipherAES256)
		require.NoError(t, err)
		signer, err = ssh.NewSignerFromKey(priv)
		require.NoError(t, err)
	}
	p := filepath.Join(t.TempDir(), "id_fleet")
	require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(block), 0o600))
	return p, signer.PublicKey()
}

func writeKnownHosts(t *testing.T, addr string, key ssh.PublicKey) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(p, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, key)+"\n"), 0o600))
	return p
}

func TestSSH(t *testing.T) {
	root := t.TempDir()
	r := newTestRepo(t, root)
	r.commit("first", filesA)
	b := r.commit("add a VM", filesB)
	const passphrase = "correct horse battery"
	keyFile, pub := sshClientKey(t, passphrase)
	srv := startSSHServer(t, root, pub)
	knownHosts := writeKnownHosts(t, srv.addr, srv.hostKey)
	url := "ssh://git@" + srv.addr + "/fleet"
	auth := Auth{SSHKeyFile: keyFile, SSHKeyPassphrase: passphrase, KnownHostsFile: knownHosts}
	spec := Spec{URL: url, CacheDir: t.TempDir(), Auth: auth, Timeout: 30 * time.Second}

	rev := fetch(t, spec)
	assert.Equal(t, b.String(), rev.Commit)
	assert.Equal(t, "refs/heads/main", rev.Ref)
	assert.Equal(t, filesB["clusters/edge-1/vm.yaml"], readTree(t, rev.Dir)["clusters/edge-1/vm.yaml"])
	again := fetch(t, spec)
	assert.False(t, again.Fetched)
	c := r.commit("third", map[string]string{"README": "x\n"})
	rev = fetch(t, spec)
	assert.Equal(t, c.String(), rev.Commit)
	assert.Equal(t, b.String(), rev.Previous)

	// A key without passphrase, no user in the URL ("git" is the default).
	plainKey, plainPub := sshClientKey(t, "")
	srv2 := startSSHServer(t, root, plainPub)
	rev = fetch(t, Spec{URL: "ssh://" + srv2.addr + "/fleet", CacheDir: t.TempDir(),
		Auth: Auth{SSHKeyFile: plainKey, KnownHostsFile: writeKnownHosts(t, srv2.addr, srv2.hostKey)}})
	assert.Equal(t, c.String(), rev.Commit)

	// The wrong host key for this host: refused.
	_, otherHost, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	otherSigner, err := ssh.NewSignerFromKey(otherHost)
	require.NoError(t, err)
	wrong := spec
	wrong.CacheDir = t.TempDir()
	wrong.Auth.KnownHostsFile = writeKnownHosts(t, srv.addr, otherSigner.PublicKey())
	err = fetchErr(t, wrong)
	t.Logf("wrong host key: %v", err)
	assert.ErrorIs(t, err, ErrHostKey)
	assert.Contains(t, err.Error(), "host key did not match")
	assert.Contains(t, err.Error(), "git source ssh://"+srv.addr+"/fleet")
	requireNoSecret(t, err.Error(), passphrase, "git@")

	// Same on a warm cache: a host key mismatch is an error, never a stale revision.
	warm := spec
	warm.Auth.KnownHostsFile = wrong.Auth.KnownHostsFile
	err = fetchErr(t, warm)
	assert.ErrorIs(t, err, ErrHostKey)

	// A known_hosts that does not list this host.
	unlisted := spec
	unlisted.CacheDir = t.TempDir()
	unlisted.Auth.KnownHostsFile = writeKnownHosts(t, "127.0.0.2:22", srv.hostKey)
	err = fetchErr(t, unlisted)
	t.Logf("unlisted host: %v", err)
	assert.ErrorIs(t, err, ErrHostKey)
	assert.Contains(t, err.Error(), "is not listed in known_hosts")

	// No known_hosts, or a missing file: an error before any connection, never trust on first use.
	for _, kh := range []string{"", filepath.Join(t.TempDir(), "missing_known_hosts")} {
		missing := spec
		missing.CacheDir = t.TempDir()
		missing.Auth.KnownHostsFile = kh
		err = fetchErr(t, missing)
		t.Logf("known_hosts %q: %v", kh, err)
		assert.ErrorIs(t, err, ErrHostKey)
		assert.Contains(t, err.Error(), "never trusted blindly")
	}

	// A known_hosts that does not parse: the error names the file and line, not what is in it.
	badKH := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(badKH, []byte("[127.0.0.1]:22 ssh-ed25519 SECRET-LINE-CONTENTS\n"), 0o600))
	garbled := spec
	garbled.Auth.KnownHostsFile = badKH
	err = fetchErr(t, garbled)
	t.Logf("garbled known_hosts: %v", err)
	assert.ErrorIs(t, err, ErrHostKey)
	requireNoSecret(t, err.Error(), "SECRET-LINE-CONTENTS")

	// A key the server does not accept, and a wrong passphrase.
	strangerKey, _ := sshClientKey(t, "")
	stranger := spec
	stranger.CacheDir = t.TempDir()
	stranger.Auth = Auth{SSHKeyFile: strangerKey, KnownHostsFile: knownHosts}
	err = fetchErr(t, stranger)
	t.Logf("unknown client key: %v", err)
	assert.ErrorIs(t, err, ErrAuthentication)
	badPass := spec
	badPass.Auth.SSHKeyPassphrase = "not the passphrase"
	err = fetchErr(t, badPass)
	assert.ErrorIs(t, err, ErrAuthentication)
	assert.Contains(t, err.Error(), "wrong passphrase")
	requireNoSecret(t, err.Error(), "not the passphrase", passphrase)
	noPass := spec
	noPass.Auth.SSHKeyPassphrase = ""
	err = fetchErr(t, noPass)
	assert.Contains(t, err.Error(), "passphrase-protected")
	keyBytes, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	notAKey := filepath.Join(t.TempDir(), "not-a-key")
	require.NoError(t, os.WriteFile(notAKey, []byte("secret-file-contents\n"), 0o600))
	garbage := spec
	garbage.Auth.SSHKeyFile = notAKey
	err = fetchErr(t, garbage)
	requireNoSecret(t, err.Error(), "secret-file-contents", string(keyBytes[40:80]))

	// The server goes away: the last good revision, marked stale.
	srv.stop()
	stale := fetch(t, spec)
	t.Logf("stale: %s", stale.StaleReason)
	assert.True(t, stale.Stale)
	assert.Equal(t, c.String(), stale.Commit)
	assert.Equal(t, "x\n", readTree(t, stale.Dir)["README"])
	assert.Contains(t, stale.StaleReason, "connection refused")
}
