package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
)

// Identity is who asks and what they may do.
type Identity struct {
	User      string
	CanCommit bool
}

// Authorizer decides who a request comes from. ErrUnauthenticated sends the browser to the sign-in
// page (when the authorizer has one); any other error is a 403.
type Authorizer interface {
	Authorize(r *http.Request) (*Identity, error)
}

// ErrUnauthenticated: no credentials, or credentials the API server does not accept.
var ErrUnauthenticated = errors.New("not signed in")

// Loopback serves only clients on the loopback interface, asking for a loopback host name (no DNS
// rebinding from a page elsewhere): the CLI's dashboard, which reads with the user's own kubeconfig.
type Loopback struct{}

// Authorize accepts loopback clients.
func (Loopback) Authorize(r *http.Request) (*Identity, error) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil || !isLoopback(host) {
		return nil, fmt.Errorf("the dashboard serves loopback clients only")
	}
	h := r.Host
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	if !isLoopback(h) {
		return nil, fmt.Errorf("host %q is not a loopback name", h)
	}
	return &Identity{User: "local", CanCommit: true}, nil
}

func isLoopback(host string) bool {
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// TokenCookie carries the bearer token a user signed in with (HttpOnly, SameSite=Strict).
const TokenCookie = "vmo-cue-token"

// TokenReviewer checks a bearer token (the Authorization header, or the sign-in cookie) with a
// TokenReview, then asks a SubjectAccessReview whether its user may get Fleets in Namespace (view)
// and update them (commit). Answers are cached a minute per token hash; tokens are never logged or
// echoed.
type TokenReviewer struct {
	Client    client.Client
	Namespace string
	// TTL of a cached answer (1 minute if 0).
	TTL time.Duration

	mu    sync.Mutex
	cache map[[32]byte]cached
}

type cached struct {
	id  *Identity
	err error
	at  time.Time
}

func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	}
	if c, err := r.Cookie(TokenCookie); err == nil {
		return c.Value
	}
	return ""
}

// Authorize reviews the request's token.
func (t *TokenReviewer) Authorize(r *http.Request) (*Identity, error) {
	tok := bearer(r)
	if tok == "" {
		return nil, ErrUnauthenticated
	}
	return t.Review(r.Context(), tok)
}

// Review checks a token: who it is and whether it may view (get fleets) and commit (update fleets).
func (t *TokenReviewer) Review(ctx context.Context, tok string) (*Identity, error) {
	key := sha256.Sum256([]byte(tok))
	ttl := t.TTL
	if ttl == 0 {
		ttl = time.Minute
	}
	t.mu.Lock()
	if c, ok := t.cache[key]; ok && time.Since(c.at) < ttl {
		t.mu.Unlock()
		return c.id, c.err
	}
	t.mu.Unlock()
	id, err := t.review(ctx, tok)
	t.mu.Lock()
	if t.cache == nil {
		t.cache = map[[32]byte]cached{}
	}
	t.cache[key] = cached{id: id, err: err, at: time.Now()}
	t.mu.Unlock()
	return id, err
}

func (t *TokenReviewer) review(ctx context.Context, tok string) (*Identity, error) {
	tr := &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: tok}}
	if err := t.Client.Create(ctx, tr); err != nil {
		// The API server's error names the request, never the token.
		return nil, fmt.Errorf("token review: %w", err)
	}
	if !tr.Status.Authenticated {
		return nil, ErrUnauthenticated
	}
	u := tr.Status.User
	may := func(verb string) (bool, error) {
		extra := map[string]authzv1.ExtraValue{}
		for k, v := range u.Extra {
			extra[k] = authzv1.ExtraValue(v)
		}
		sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
			ResourceAttributes: &authzv1.ResourceAttributes{Namespace: t.Namespace, Verb: verb,
				Group: fleetv1.GroupVersion.Group, Resource: "fleets"},
		}}
		if err := t.Client.Create(ctx, sar); err != nil {
			return false, fmt.Errorf("access review (%s fleets): %w", verb, err)
		}
		return sar.Status.Allowed, nil
	}
	view, err := may("get")
	if err != nil {
		return nil, err
	}
	if !view {
		return nil, fmt.Errorf("%s may not get fleets in %s", u.Username, t.Namespace)
	}
	commit, err := may("update")
	if err != nil {
		return nil, err
	}
	return &Identity{User: u.Username, CanCommit: commit}, nil
}

// view wraps a page anyone the authorizer accepts may see.
func (s *Server) view(h func(http.ResponseWriter, *http.Request, *Identity)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := s.authorize(w, r)
		if ok {
			h(w, r, id)
		}
	})
}

// commit wraps the form: commits enabled, and the identity may commit.
func (s *Server) commit(h func(http.ResponseWriter, *http.Request, *Identity)) http.Handler {
	return s.view(func(w http.ResponseWriter, r *http.Request, id *Identity) {
		if s.opts.Commits == nil {
			flag := s.opts.CommitsFlag
			if flag == "" {
				flag = "--allow-commits"
			}
			http.Error(w, "changes through git are off: start the dashboard with "+flag, http.StatusForbidden)
			return
		}
		if !id.CanCommit {
			http.Error(w, id.User+" may not update fleets: read-only", http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost && !s.checkCSRF(r) {
			http.Error(w, "the form's CSRF token is missing or wrong: reload the form", http.StatusForbidden)
			return
		}
		h(w, r, id)
	})
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) (*Identity, bool) {
	auth := s.opts.Auth
	if auth == nil {
		auth = Loopback{}
	}
	id, err := auth.Authorize(r)
	switch {
	case errors.Is(err, ErrUnauthenticated) && s.opts.Auth != nil && r.Method == http.MethodGet && r.URL.Path != "/events":
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil, false
	case errors.Is(err, ErrUnauthenticated):
		http.Error(w, "not signed in: send a bearer token", http.StatusUnauthorized)
		return nil, false
	case err != nil:
		http.Error(w, "forbidden: "+err.Error(), http.StatusForbidden)
		return nil, false
	}
	return id, true
}

// csrfCookie holds a random value the form echoes (double submit), signed with the server's key so
// that a cookie planted by a sibling host does not verify either.
const csrfCookie = "vmo-cue-csrf"

func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && s.validNonce(c.Value) {
		return c.Value
	}
	n := make([]byte, 16)
	_, _ = rand.Read(n)
	nonce := base64.RawURLEncoding.EncodeToString(n)
	v := nonce + "." + s.sign(nonce)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	return v
}

func (s *Server) sign(nonce string) string {
	m := hmac.New(sha256.New, s.csrf)
	m.Write([]byte(nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) validNonce(v string) bool {
	nonce, sig, ok := strings.Cut(v, ".")
	return ok && hmac.Equal([]byte(sig), []byte(s.sign(nonce)))
}

func (s *Server) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || !s.validNonce(c.Value) {
		return false
	}
	return hmac.Equal([]byte(c.Value), []byte(r.PostFormValue("csrf")))
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "login", &page{Title: "Sign in", CSRF: s.csrfToken(w, r)}, nil)
}

func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(r) {
		http.Error(w, "the form's CSRF token is missing or wrong: reload the form", http.StatusForbidden)
		return
	}
	tok := strings.TrimSpace(r.PostFormValue("token"))
	tr, ok := s.opts.Auth.(*TokenReviewer)
	if !ok || tok == "" {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if _, err := tr.Review(r.Context(), tok); err != nil {
		w.WriteHeader(http.StatusForbidden)
		msg := "the token was not accepted"
		if !errors.Is(err, ErrUnauthenticated) {
			msg = err.Error()
		}
		s.render(w, r, "login", &page{Title: "Sign in", CSRF: s.csrfToken(w, r), Error: msg}, nil)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
