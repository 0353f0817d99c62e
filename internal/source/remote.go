package source

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// remote is a parsed Spec.URL with the auth go-git needs.
type remote struct {
	kind     string // "http", "ssh" or "file"
	gitURL   string // the URL given to go-git: never holds a password or token
	display  string // for messages: no userinfo, no query
	key      string // identity of the repository in the cache
	auth     transport.AuthMethod
	caBundle []byte
	hasCreds bool
	secrets  []string
}

func parseRemote(s Spec) (*remote, error) {
	raw := strings.TrimSpace(s.URL)
	r := &remote{}
	r.addSecret(s.Auth.Password)
	r.addSecret(s.Auth.SSHKeyPassphrase)
	fail := func(format string, args ...any) error {
		return &Error{URL: r.displayOr(raw), Ref: s.Ref, Reason: r.scrub(fmt.Sprintf(format, args...))}
	}
	if raw == "" {
		return nil, fail("no URL given")
	}
	switch {
	case strings.Contains(raw, "://"):
		u, err := url.Parse(raw)
		if err != nil {
			// url.Parse errors quote the URL: do not show it, it may hold credentials.
			r.addSecret(raw)
			return nil, &Error{URL: "(unparsable URL)", Ref: s.Ref, Reason: "the URL does not parse"}
		}
		if p, ok := u.User.Password(); ok {
			r.addSecret(p)
			r.addSecret(u.User.String())
		}
		switch strings.ToLower(u.Scheme) {
		case "http", "https":
			r.kind = "http"
			user, pass := s.Auth.Username, s.Auth.Password
			if user == "" && pass == "" && u.User != nil {
				user = u.User.Username()
				pass, _ = u.User.Password()
			}
			if user != "" || pass != "" {
				if user == "" {
					user = "git"
				}
				r.auth = &githttp.BasicAuth{Username: user, Password: pass}
				r.hasCreds = true
				r.addSecret(base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)))
			}
			clean := *u
			clean.User = nil
			r.gitURL = clean.String()
			clean.RawQuery, clean.Fragment = "", ""
			r.display = clean.String()
			if u.RawQuery != "" {
				// Git's smart HTTP appends its paths after the URL's query, so such a URL cannot work,
				// and a query often carries a token (?private_token=): refuse it without showing it.
				r.addSecret(u.RawQuery)
				for _, vs := range u.Query() {
					for _, v := range vs {
						r.addSecret(v)
					}
				}
				return nil, fail("a query string in a git URL is not supported: give a token with a token file or Auth.Password")
			}
			if r.hasCreds && strings.EqualFold(u.Scheme, "http") && !s.AllowInsecureHTTP {
				return nil, fail("credentials refused over plain http: they would cross the network in clear text " +
					"(use https, or AllowInsecureHTTP (--allow-insecure-http) for a local test server)")
			}
			r.key = strings.ToLower(clean.Scheme) + "://" + strings.ToLower(clean.Host) + strings.TrimSuffix(clean.Path, "/")
			if s.CAFile != "" {
				b, err := os.ReadFile(s.CAFile)
				if err != nil {
					return nil, fail("reading CAFile: %v", pathErr(err))
				}
				if !x509.NewCertPool().AppendCertsFromPEM(b) {
					return nil, fail("CAFile %s holds no PEM certificate", s.CAFile)
				}
				r.caBundle = b
			}
		case "ssh", "git+ssh", "ssh+git":
			r.kind = "ssh"
			if _, ok := u.User.Password(); ok {
				return nil, fail("a password in an ssh URL is not supported: use Auth.SSHKeyFile")
			}
			port := u.Port()
			clean := *u
			clean.User = nil
			clean.Scheme = "ssh"
			r.display = clean.String()
			r.key = "ssh://" + strings.ToLower(u.Hostname()) + ":" + portOr22(port) + strings.TrimSuffix(u.Path, "/")
			user := u.User.Username()
			withUser := clean
			if user != "" {
				withUser.User = url.User(user)
			}
			r.gitURL = withUser.String()
			if err := r.sshAuth(s, user, u.Hostname(), port); err != nil {
				return nil, err
			}
		case "file":
			r.kind = "file"
			if u.Host != "" && u.Host != "localhost" {
				return nil, fail("file:// URL with a host (%s) is not supported", u.Host)
			}
			p, err := filepath.Abs(u.Path)
			if err != nil {
				return nil, fail("%v", err)
			}
			r.setLocal(p)
		default:
			return nil, fail("unsupported URL scheme %q (https, http, ssh, file, user@host:path or a local path)", u.Scheme)
		}
	case isSCPLike(raw):
		r.kind = "ssh"
		user, hostPath, hasUser := strings.Cut(raw, "@")
		if !hasUser {
			user, hostPath = "", raw
		}
		host, path, _ := strings.Cut(hostPath, ":")
		r.gitURL = raw
		r.display = host + ":" + path
		r.key = "ssh://" + strings.ToLower(host) + ":22/" + strings.TrimPrefix(strings.TrimSuffix(path, "/"), "/")
		if err := r.sshAuth(s, user, host, ""); err != nil {
			return nil, err
		}
	default:
		p, err := filepath.Abs(raw)
		if err != nil {
			return nil, fail("%v", err)
		}
		r.kind = "file"
		r.setLocal(p)
	}
	if r.kind != "http" && s.CAFile != "" {
		return nil, fail("CAFile is only used with https URLs")
	}
	return r, nil
}

func (r *remote) setLocal(abs string) {
	abs = filepath.Clean(abs)
	r.gitURL = abs
	r.display = abs
	r.key = "file://" + abs
}

func (r *remote) displayOr(raw string) string {
	if r.display != "" {
		return r.display
	}
	return redactURL(raw)
}

// redactURL removes userinfo and query from what looks like a URL, for messages about a URL that
// could not be fully parsed.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		u.User = nil
		u.RawQuery, u.Fragment = "", ""
		return u.String()
	}
	if i := strings.LastIndex(raw, "@"); i >= 0 && strings.Contains(raw, "://") {
		return raw[:strings.Index(raw, "://")+3] + raw[i+1:]
	}
	return raw
}

// isSCPLike follows git: "[user@]host:path" when a colon comes before any slash.
func isSCPLike(s string) bool {
	colon := strings.Index(s, ":")
	if colon <= 0 {
		return false
	}
	if slash := strings.Index(s, "/"); slash >= 0 && slash < colon {
		return false
	}
	if colon == 1 && filepath.VolumeName(s) != "" { // C:\repo on Windows
		return false
	}
	return true
}

func portOr22(p string) string {
	if p == "" {
		return "22"
	}
	return p
}

func (r *remote) addSecret(s string) {
	if s == "" {
		return
	}
	r.secrets = append(r.secrets, s)
	if q := url.QueryEscape(s); q != s {
		r.secrets = append(r.secrets, q)
	}
	if q := url.PathEscape(s); q != s {
		r.secrets = append(r.secrets, q)
	}
}

// scrub removes every secret of the remote from a message.
func (r *remote) scrub(msg string) string {
	for _, s := range r.secrets {
		msg = strings.ReplaceAll(msg, s, "[redacted]")
	}
	return msg
}

// sshAuth builds the SSH auth: a key file and a host key check against Auth.KnownHostsFile.
func (r *remote) sshAuth(s Spec, user, host, port string) error {
	fail := func(kind error, format string, args ...any) error {
		return &Error{URL: r.display, Ref: s.Ref, Reason: r.scrub(fmt.Sprintf(format, args...)), kind: kind}
	}
	if user == "" {
		user = s.Auth.Username
	}
	if user == "" {
		user = "git"
	}
	if s.Auth.KnownHostsFile == "" {
		return fail(ErrHostKey, "SSH needs Auth.KnownHostsFile: the server's host key is checked against it, never trusted blindly")
	}
	if _, err := os.Stat(s.Auth.KnownHostsFile); err != nil {
		return fail(ErrHostKey, "known_hosts file: %v (the server's host key is never trusted blindly)", pathErr(err))
	}
	db, err := gitssh.NewKnownHostsDb(s.Auth.KnownHostsFile)
	if err != nil {
		// x/crypto's parse errors are "knownhosts: file:line: reason", never the line's contents.
		return fail(ErrHostKey, "known_hosts file %s does not parse: %v", s.Auth.KnownHostsFile, err)
	}
	if s.Auth.SSHKeyFile == "" {
		return fail(ErrAuthentication, "SSH needs Auth.SSHKeyFile")
	}
	pem, err := os.ReadFile(s.Auth.SSHKeyFile)
	if err != nil {
		return fail(ErrAuthentication, "reading SSH key file: %v", pathErr(err))
	}
	var signer ssh.Signer
	if s.Auth.SSHKeyPassphrase != "" {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(s.Auth.SSHKeyPassphrase))
	} else {
		signer, err = ssh.ParsePrivateKey(pem)
	}
	clear(pem)
	if err != nil {
		var missing *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &missing):
			return fail(ErrAuthentication, "SSH key file %s is passphrase-protected: set Auth.SSHKeyPassphrase", s.Auth.SSHKeyFile)
		case errors.Is(err, x509.IncorrectPasswordError) || strings.Contains(err.Error(), "decryption password incorrect"):
			return fail(ErrAuthentication, "SSH key file %s: wrong passphrase", s.Auth.SSHKeyFile)
		default:
			return fail(ErrAuthentication, "SSH key file %s is not a private key this client reads", s.Auth.SSHKeyFile)
		}
	}
	hostPort := net.JoinHostPort(host, portOr22(port))
	r.hasCreds = true
	r.auth = &sshKeyAuth{
		user:        user,
		signer:      signer,
		hostPort:    hostPort,
		knownHosts:  s.Auth.KnownHostsFile,
		callback:    db.HostKeyCallback(),
		algorithms:  db.HostKeyAlgorithms(hostPort),
		dialTimeout: s.Timeout,
	}
	return nil
}

// sshKeyAuth is go-git's ssh AuthMethod for a key, with a host key check that always uses the given
// known_hosts file.
type sshKeyAuth struct {
	user        string
	signer      ssh.Signer
	hostPort    string
	knownHosts  string
	callback    ssh.HostKeyCallback
	algorithms  []string
	dialTimeout time.Duration
}

func (a *sshKeyAuth) Name() string   { return "ssh-public-key" }
func (a *sshKeyAuth) String() string { return "user: " + a.user + ", name: ssh-public-key" }

func (a *sshKeyAuth) ClientConfig() (*ssh.ClientConfig, error) {
	timeout := a.dialTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &ssh.ClientConfig{
		User:              a.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(a.signer)},
		HostKeyCallback:   a.checkHostKey,
		HostKeyAlgorithms: a.algorithms,
		Timeout:           timeout,
	}, nil
}

// hostKeyError is returned by the host key check; it survives go-git's wrapping as text only, so the
// classification also matches its message.
type hostKeyError struct{ msg string }

func (e *hostKeyError) Error() string { return e.msg }

const hostKeyMismatch = "host key did not match"

func (a *sshKeyAuth) checkHostKey(hostname string, addr net.Addr, key ssh.PublicKey) error {
	err := a.callback(hostname, addr, key)
	if err == nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if errors.As(err, &ke) {
		if len(ke.Want) > 0 {
			return &hostKeyError{fmt.Sprintf("%s: the %s host key of %s is not the one listed in known_hosts %s (%s %s)",
				hostKeyMismatch, key.Type(), hostname, a.knownHosts, key.Type(), ssh.FingerprintSHA256(key))}
		}
		return &hostKeyError{fmt.Sprintf("host key not trusted: %s is not listed in known_hosts %s (it offered %s %s)",
			hostname, a.knownHosts, key.Type(), ssh.FingerprintSHA256(key))}
	}
	var re *knownhosts.RevokedError
	if errors.As(err, &re) {
		return &hostKeyError{fmt.Sprintf("host key not trusted: the host key of %s is revoked in known_hosts %s", hostname, a.knownHosts)}
	}
	return &hostKeyError{fmt.Sprintf("host key not trusted: %s: %v", hostname, err)}
}

// pathErr shows an *os.PathError as "path: reason" (never the contents).
func pathErr(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

// classify turns a go-git error into the kind and the words of an *Error.
func (f *fetcher) classify(ctx context.Context, err error) *Error {
	if f.parent.Err() != nil {
		return f.contextError(f.parent)
	}
	if ctx.Err() != nil { // our own Timeout, whatever the transport made of it
		return f.errorf(ErrUnreachable, "remote unreachable: no answer within %s", f.spec.Timeout)
	}
	msg := err.Error()
	var hk *hostKeyError
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	switch {
	case errors.As(err, &hk) || strings.Contains(msg, hostKeyMismatch) || strings.Contains(msg, "host key not trusted"):
		return f.errorf(ErrHostKey, "SSH %s", trimTo(msg, "host key"))
	case errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostnameErr) || errors.As(err, &invalidCert) ||
		strings.Contains(msg, "x509:") || strings.Contains(msg, "tls: failed to verify"):
		return f.errorf(nil, "TLS certificate of the server not trusted (give its CA with CAFile): %s", msg)
	case errors.Is(err, transport.ErrAuthenticationRequired):
		if f.rem.hasCreds {
			return f.errorf(ErrAuthentication, "authentication failed: the server refused the credentials (HTTP 401)")
		}
		return f.errorf(ErrAuthentication, "authentication required: the server asks for credentials (HTTP 401); none were given")
	case errors.Is(err, transport.ErrAuthorizationFailed):
		return f.errorf(ErrAuthentication, "access denied: the server refused the credentials (HTTP 403)")
	case strings.Contains(msg, "unable to authenticate"):
		return f.errorf(ErrAuthentication, "SSH authentication failed: the server refused the key")
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return f.errorf(ErrNotFound, "repository not found")
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return f.errorf(ErrNotFound, "the remote repository is empty")
	case isUnreachable(err):
		return f.errorf(ErrUnreachable, "remote unreachable: %s", msg)
	}
	return f.errorf(nil, "%s", msg)
}

func trimTo(msg, from string) string {
	if i := strings.Index(msg, from); i >= 0 {
		return msg[i:]
	}
	return msg
}

// isUnreachable says whether err means the remote could not be talked to (as opposed to a refusal).
func isUnreachable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	if errors.As(err, &opErr) || errors.As(err, &dnsErr) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ETIMEDOUT, syscall.EPIPE, io.ErrUnexpectedEOF} {
		if errors.Is(err, e) {
			return true
		}
	}
	var he *githttp.Err
	if errors.As(err, &he) && he.StatusCode() >= 500 {
		return true
	}
	msg := err.Error()
	for _, s := range []string{
		"connection refused", "no such host", "i/o timeout", "network is unreachable", "host is unreachable",
		"connection reset", "broken pipe", "TLS handshake timeout", "context deadline exceeded",
		"server misbehaving", "unexpected EOF", "status code: 502", "status code: 503", "status code: 504",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return strings.HasSuffix(msg, ": EOF") || msg == "EOF"
}
