package dashboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ManagerServer serves the dashboard inside the controller (a controller-runtime Runnable, on every
// replica): the FleetClusters of its namespace from the manager's cache, behind a bearer token the
// API server reviews (TokenReview, then SubjectAccessReview: get fleets to view, update fleets to
// commit). Git's view comes from GitView (the Fleets' last fetched checkouts); with Commits set, a
// user who may update fleets commits through the form into a private clone (Commits.Workspace).
type ManagerServer struct {
	Addr      string
	Namespace string
	// Reader reads FleetClusters (the manager's cached client); Client creates the reviews.
	Reader client.Reader
	Client client.Client
	Log    logr.Logger
	// GitView gives git's view of the Fleets (nil: FleetClusters only).
	GitView func() (*GitView, error)
	// Commits enables the form (nil: read-only).
	Commits *CommitOptions
	// Listening is closed once the address is bound.
	Listening chan struct{}
}

// NeedLeaderElection: every replica serves the dashboard.
func (m *ManagerServer) NeedLeaderElection() bool { return false }

// Start serves until ctx ends.
func (m *ManagerServer) Start(ctx context.Context) error {
	srv, err := New(Options{
		Source:      &FleetSource{Client: m.Reader, Namespace: m.Namespace},
		Auth:        &TokenReviewer{Client: m.Client, Namespace: m.Namespace},
		FleetName:   m.Namespace,
		Refresh:     5 * time.Second,
		GitView:     m.GitView,
		Commits:     m.Commits,
		CommitsFlag: "--dashboard-allow-commits",
		Log:         slog.New(logr.ToSlogHandler(m.Log)),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("dashboard on %s: %w", m.Addr, err)
	}
	if m.Listening != nil {
		close(m.Listening)
	}
	srv.Refresh(ctx, false)
	go srv.Run(ctx)
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	m.Log.Info("dashboard serving", "address", ln.Addr().String())
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}
