package controller

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	fleetv1 "github.com/vmo-cue/vmo-cue/api/v1alpha1"
)

// HookPrefix is the path of the webhook receiver: POST /hook/<namespace>/<fleet>.
const HookPrefix = "/hook/"

// maxPayload bounds a webhook's body (GitHub sends at most 25 MB; a push of a fleet is far smaller).
const maxPayload = 10 << 20

// Errors of signature checks.
var (
	errNoSignature  = errors.New("no X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token header")
	errBadSignature = errors.New("signature does not match")
)

// verifySignature checks a webhook's body against the shared secret: GitHub's X-Hub-Signature-256
// ("sha256=" and the hex HMAC-SHA256 of the body), Gitea's X-Gitea-Signature (the hex HMAC-SHA256),
// or GitLab's X-Gitlab-Token (the secret itself). It returns which one it checked.
func verifySignature(h http.Header, body, secret []byte) (string, error) {
	sum, _ := hex.DecodeString(hmacHexOf(secret, body))
	hexEqual := func(got string) bool {
		b, err := hex.DecodeString(got)
		return err == nil && hmac.Equal(b, sum)
	}
	switch {
	case h.Get("X-Hub-Signature-256") != "":
		got, ok := strings.CutPrefix(h.Get("X-Hub-Signature-256"), "sha256=")
		if !ok || !hexEqual(got) {
			return "github", errBadSignature
		}
		return "github", nil
	case h.Get("X-Gitea-Signature") != "":
		if !hexEqual(h.Get("X-Gitea-Signature")) {
			return "gitea", errBadSignature
		}
		return "gitea", nil
	case h.Get("X-Gitlab-Token") != "":
		if subtle.ConstantTimeCompare([]byte(h.Get("X-Gitlab-Token")), secret) != 1 {
			return "gitlab", errBadSignature
		}
		return "gitlab", nil
	}
	return "", errNoSignature
}

// hmacHexOf is the hex HMAC-SHA256 of body with secret.
func hmacHexOf(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// pushedRef reads the event of a verified webhook: ping (nothing to do), or a push and its ref
// ("refs/heads/main"; empty if the payload does not say).
func pushedRef(h http.Header, body []byte) (ping bool, ref string, err error) {
	for _, k := range []string{"X-GitHub-Event", "X-Gitea-Event", "X-Gitlab-Event"} {
		if h.Get(k) == "ping" {
			return true, "", nil
		}
	}
	var p struct {
		Ref string `json:"ref"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &p); err != nil {
			return false, "", fmt.Errorf("payload is not JSON: %w", err)
		}
	}
	return false, p.Ref, nil
}

// follows reports whether a push to ref moves what the Fleet follows. A Fleet that follows the
// remote's HEAD is told of every push (the payload does not reliably name the default branch; a
// fetch with nothing new costs one ref advertisement); one pinned to a commit of none.
func follows(f *fleetv1.Fleet, ref string) bool {
	want := refOf(f.Spec.Source.Ref)
	switch {
	case want == "" || ref == "":
		return true
	case strings.HasPrefix(want, "refs/"):
		return ref == want
	default:
		return false // a pinned commit
	}
}

// Receiver serves the webhooks of git servers: POST /hook/<namespace>/<fleet>, signed with the secret
// under WebhookKey in the Secret named by the Fleet's spec.source.secretRef. It answers at once and
// leaves the reconciliation to the controller (Trigger).
type Receiver struct {
	// Fleets reads Fleets (the manager's cache: the receiver knows only the Fleets of its namespace
	// and shard); Secrets reads Secrets from the API server.
	Fleets, Secrets client.Reader
	// Trigger asks for a reconciliation of the Fleet.
	Trigger func(context.Context, *fleetv1.Fleet) error
	Log     logr.Logger
}

func (h *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	answer := func(code int, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if code >= 400 {
			h.Log.Info("webhook refused", "path", req.URL.Path, "code", code, "reason", msg)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		fmt.Fprintln(w, msg)
	}
	parts := strings.Split(strings.TrimPrefix(req.URL.Path, HookPrefix), "/")
	if !strings.HasPrefix(req.URL.Path, HookPrefix) || len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		answer(http.StatusNotFound, "not found: the receiver's path is %s<namespace>/<fleet>", HookPrefix)
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		answer(http.StatusMethodNotAllowed, "POST only")
		return
	}
	ctx := req.Context()
	key := client.ObjectKey{Namespace: parts[0], Name: parts[1]}
	f := &fleetv1.Fleet{}
	if err := h.Fleets.Get(ctx, key, f); err != nil {
		if apierrors.IsNotFound(err) {
			answer(http.StatusNotFound, "no Fleet %s served here", key)
		} else {
			answer(http.StatusInternalServerError, "reading Fleet %s failed", key)
		}
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxPayload+1))
	if err != nil {
		answer(http.StatusBadRequest, "reading the payload: %v", err)
		return
	}
	if len(body) > maxPayload {
		answer(http.StatusRequestEntityTooLarge, "payload over %d bytes", maxPayload)
		return
	}
	secret, err := h.secret(ctx, f)
	if err != nil {
		answer(http.StatusForbidden, "%v", err)
		return
	}
	provider, err := verifySignature(req.Header, body, secret)
	switch {
	case errors.Is(err, errNoSignature):
		answer(http.StatusUnauthorized, "%v", err)
		return
	case err != nil:
		answer(http.StatusForbidden, "%s %v", provider, err)
		return
	}
	ping, ref, err := pushedRef(req.Header, body)
	switch {
	case err != nil:
		answer(http.StatusBadRequest, "%v", err)
		return
	case ping:
		answer(http.StatusOK, "pong")
		return
	case !follows(f, ref):
		answer(http.StatusOK, "ignored: Fleet %s does not follow %s", key, ref)
		return
	}
	h.Log.Info("webhook: requesting a reconciliation", "fleet", key.String(), "provider", provider, "ref", ref)
	if err := h.Trigger(ctx, f); err != nil {
		answer(http.StatusInternalServerError, "requesting a reconciliation of Fleet %s failed", key)
		h.Log.Error(err, "webhook trigger", "fleet", key.String())
		return
	}
	answer(http.StatusAccepted, "reconciliation of Fleet %s requested", key)
}

// secret is the webhook secret of a Fleet. Errors say what is missing, never a value.
func (h *Receiver) secret(ctx context.Context, f *fleetv1.Fleet) ([]byte, error) {
	ref := f.Spec.Source.SecretRef
	if ref == nil {
		return nil, fmt.Errorf("Fleet %s/%s has no spec.source.secretRef, so no webhook secret (key %s)", f.Namespace, f.Name, WebhookKey)
	}
	s := &corev1.Secret{}
	if err := h.Secrets.Get(ctx, client.ObjectKey{Namespace: f.Namespace, Name: ref.Name}, s); err != nil {
		return nil, fmt.Errorf("Secret %s/%s (spec.source.secretRef) cannot be read", f.Namespace, ref.Name)
	}
	v := s.Data[WebhookKey]
	if len(v) == 0 {
		return nil, fmt.Errorf("Secret %s/%s (spec.source.secretRef) has no key %s", f.Namespace, ref.Name, WebhookKey)
	}
	return v, nil
}

// trigger asks for a reconciliation of a Fleet: straight into the work queue when this replica leads
// (the channel source), else through the reconcile.fluxcd.io/requestedAt annotation, which the
// leader watches.
func (r *FleetReconciler) trigger(ctx context.Context, f *fleetv1.Fleet) error {
	select {
	case <-r.elected:
		select {
		case r.hooks <- event.GenericEvent{Object: f}:
			return nil
		default: // the queue is full: ask through the API
		}
	default:
	}
	base := client.MergeFrom(f.DeepCopy())
	ann := f.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[meta.ReconcileRequestAnnotation] = time.Now().UTC().Format(time.RFC3339Nano)
	f.SetAnnotations(ann)
	return r.Patch(ctx, f, base, client.FieldOwner(Name))
}

// NewReceiver is the webhook receiver of this reconciler.
func (r *FleetReconciler) NewReceiver(log logr.Logger) *Receiver {
	return &Receiver{Fleets: r.Client, Secrets: r.APIReader, Trigger: r.trigger, Log: log}
}

// ReceiverServer serves a Receiver on an address, as a manager Runnable of every replica (not only
// the leader: a replica that does not lead passes requests on through the annotation).
type ReceiverServer struct {
	Addr    string
	Handler http.Handler
	// Listening is closed once the address is bound (for a readiness check).
	Listening chan struct{}
}

// NeedLeaderElection: every replica receives webhooks.
func (s *ReceiverServer) NeedLeaderElection() bool { return false }

// Start serves until ctx ends.
func (s *ReceiverServer) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("webhook receiver on %s: %w", s.Addr, err)
	}
	if s.Listening != nil {
		close(s.Listening)
	}
	mux := http.NewServeMux()
	mux.Handle(HookPrefix, s.Handler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("webhook receiver: %w", err)
	}
	return nil
}
