package dashboard

import (
	"context"
	"crypto/rand"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure a Server.
type Options struct {
	Source Source
	// GitDir is the fleet repository's working copy ("" when there is none: no git view).
	GitDir string
	// GitView, when set (the controller), gives git's view instead of GitDir: the Fleets' last
	// fetched revisions (Checkouts.View); nil, nil while there is none.
	GitView func() (*GitView, error)
	// Auth decides who may view and commit; nil serves loopback clients only.
	Auth Authorizer
	// Commits, if not nil, enables the VM form (changes through git).
	Commits *CommitOptions
	// CommitsFlag is the flag that enables commits, named when they are off ("--allow-commits" if "").
	CommitsFlag string
	// FleetName titles the pages.
	FleetName string
	// Refresh is how often the clusters are read again (10 s if 0).
	Refresh time.Duration
	// LiveTTL is how long one cluster's live view is reused (5 s if 0).
	LiveTTL time.Duration
	Log     *slog.Logger
}

// Server serves the dashboard.
type Server struct {
	opts  Options
	pages map[string]*template.Template
	csrf  []byte

	mu      sync.RWMutex
	snap    *snapshot
	version int64
	changed chan struct{} // closed and replaced at each new snapshot

	liveMu sync.Mutex
	live   map[string]*liveEntry

	commitMu sync.Mutex
}

type liveEntry struct {
	at   time.Time
	live *Live
}

// snapshot is one reading of the fleet: the clusters' rows joined with git's view.
type snapshot struct {
	Rows   []Row
	byName map[string]*Row
	Git    *GitView
	GitErr string
	Read   time.Time
	Err    string
	Waves  []string
	VMs    int
}

// Row is a cluster row with what git says of it.
type Row struct {
	ClusterRow
	GitVMs int
}

// New prepares a server; call Refresh (or Run) before serving.
func New(opts Options) (*Server, error) {
	if opts.Refresh == 0 {
		opts.Refresh = 10 * time.Second
	}
	if opts.LiveTTL == 0 {
		opts.LiveTTL = 5 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, pages: map[string]*template.Template{}, live: map[string]*liveEntry{}, changed: make(chan struct{}),
		snap: &snapshot{Git: &GitView{Clusters: map[string]*GitCluster{}}, byName: map[string]*Row{}}}
	s.csrf = make([]byte, 32)
	if _, err := rand.Read(s.csrf); err != nil {
		return nil, err
	}
	for _, p := range []string{"fleet", "cluster", "vm", "search", "form", "login"} {
		t, err := template.New(p).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", p, err)
		}
		s.pages[p] = t
	}
	return s, nil
}

// Run refreshes the snapshot every opts.Refresh until ctx ends.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(s.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Refresh(ctx, false)
		}
	}
}

// Refresh reads the clusters again, and git's view when HEAD moved (or always when reloadGit).
func (s *Server) Refresh(ctx context.Context, reloadGit bool) {
	s.mu.RLock()
	old := s.snap
	s.mu.RUnlock()
	next := &snapshot{Git: old.Git, GitErr: old.GitErr, Read: time.Now()}
	if s.opts.GitDir != "" && (reloadGit || old.Git.Result == nil || headOf(s.opts.GitDir).Hash != old.Git.Commit.Hash) {
		g, err := LoadGit(s.opts.GitDir)
		if err != nil {
			next.GitErr = err.Error()
		} else {
			next.Git, next.GitErr = g, ""
		}
	}
	if s.opts.GitView != nil {
		g, err := s.opts.GitView()
		switch {
		case err != nil:
			next.GitErr = err.Error()
		case g == nil:
			next.GitErr = "no revision fetched by this replica yet (the leader fetches; its dashboard shows git's view)"
		default:
			next.Git, next.GitErr = g, ""
		}
	}
	rows, err := s.opts.Source.Clusters(ctx)
	if err != nil {
		next.Err = err.Error()
		rows = nil
		for _, r := range old.Rows {
			rows = append(rows, r.ClusterRow)
		}
	}
	next.join(rows)
	s.setSnapshot(next)
}

// SetSnapshot installs rows and a git view directly (benchmarks, tests).
func (s *Server) SetSnapshot(rows []ClusterRow, g *GitView) {
	next := &snapshot{Git: g, Read: time.Now()}
	next.join(rows)
	s.setSnapshot(next)
}

func (s *Server) setSnapshot(next *snapshot) {
	s.mu.Lock()
	s.snap = next
	s.version++
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	s.liveMu.Lock()
	s.live = map[string]*liveEntry{}
	s.liveMu.Unlock()
}

func (s *Server) current() (*snapshot, int64, <-chan struct{}) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.snap, s.version, s.changed
}

// join adds git's wave, labels and VM count to each row, and a Pending row for each cluster git
// declares that no cluster reported yet.
func (n *snapshot) join(rows []ClusterRow) {
	n.byName = map[string]*Row{}
	seen := map[string]bool{}
	for _, r := range rows {
		row := Row{ClusterRow: r}
		if gc := n.Git.Clusters[r.Name]; gc != nil {
			if row.Wave == "" {
				row.Wave = gc.Wave
			}
			row.Labels = gc.Labels
			row.GitVMs = len(gc.VMs)
		} else {
			row.GitVMs = r.VMs
		}
		seen[r.Name] = true
		n.Rows = append(n.Rows, row)
	}
	for name, gc := range n.Git.Clusters {
		if !seen[name] {
			n.Rows = append(n.Rows, Row{ClusterRow: ClusterRow{Name: name, State: "Pending", Wave: gc.Wave, Labels: gc.Labels,
				Message: "never synced: no status recorded in a cluster yet"}, GitVMs: len(gc.VMs)})
		}
	}
	waveIndex := map[string]int{}
	if n.Git.Result != nil {
		// Waves in rollout order: the order of the first cluster of each wave in git's plan.
		for i, w := range waveOrder(n.Git) {
			waveIndex[w] = i
		}
	}
	sort.Slice(n.Rows, func(i, j int) bool {
		a, b := n.Rows[i], n.Rows[j]
		if wa, wb := waveRank(waveIndex, a.Wave), waveRank(waveIndex, b.Wave); wa != wb {
			return wa < wb
		}
		if sa, sb := stateRank(a.State), stateRank(b.State); sa != sb {
			return sa < sb
		}
		return a.Name < b.Name
	})
	seenWave := map[string]bool{}
	for i := range n.Rows {
		r := &n.Rows[i]
		n.byName[r.Name] = r
		n.VMs += r.VMs
		if !seenWave[r.Wave] {
			seenWave[r.Wave] = true
			n.Waves = append(n.Waves, r.Wave)
		}
	}
}

func waveOrder(g *GitView) []string {
	names := []string{"canary"}
	if g.Result != nil {
		names = append(names, readWaveNames(g.Result.Fleet.Rollout)...)
	}
	return append(names, "rest")
}

func readWaveNames(rollout map[string]any) []string {
	var out []string
	ws, _ := rollout["waves"].([]any)
	for _, w := range ws {
		m, _ := w.(map[string]any)
		if n, ok := m["name"].(string); ok {
			out = append(out, n)
		}
	}
	return out
}

func waveRank(idx map[string]int, w string) int {
	if i, ok := idx[w]; ok {
		return i
	}
	if w == "" {
		return 1 << 20
	}
	return 1 << 10
}

// States are the cluster states in the order the fleet page shows them: the ones needing a person first.
var States = []string{"Failed", "Interrupted", "Offline", "Drifted", "Syncing", "Pending", "InSync"}

func stateRank(st string) int {
	for i, s := range States {
		if s == st {
			return i
		}
	}
	return len(States)
}

// Handler returns the dashboard's routes behind the authorizer and the cross-origin protection.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("GET /{$}", s.view(s.fleetPage))
	mux.Handle("GET /cluster/{cluster}", s.view(s.clusterPage))
	mux.Handle("GET /cluster/{cluster}/vm/{namespace}/{name}", s.view(s.vmPage))
	mux.Handle("GET /search", s.view(s.searchPage))
	mux.Handle("GET /events", s.view(s.events))
	mux.Handle("GET /vm/new", s.commit(s.newForm))
	mux.Handle("POST /vm/new", s.commit(s.newSubmit))
	mux.Handle("GET /cluster/{cluster}/vm/{namespace}/{name}/edit", s.commit(s.editForm))
	mux.Handle("POST /cluster/{cluster}/vm/{namespace}/{name}/edit", s.commit(s.editSubmit))
	if s.opts.Auth != nil {
		mux.HandleFunc("GET /login", s.loginForm)
		mux.HandleFunc("POST /login", s.loginSubmit)
	}
	cop := http.NewCrossOriginProtection()
	return securityHeaders(cop.Handler(mux))
}

// securityHeaders: a strict Content-Security-Policy (no inline script or style, nothing from
// elsewhere), no framing, no sniffing, no referrer, no caching of pages.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		if len(r.URL.Path) < 8 || r.URL.Path[:8] != "/static/" {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

// events streams a "refresh" event each time the snapshot changes (server-sent events).
func (s *Server) events(w http.ResponseWriter, r *http.Request, _ *Identity) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	_, v, ch := s.current()
	fmt.Fprintf(w, "retry: 5000\nevent: hello\ndata: %d\n\n", v)
	fl.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ch:
			_, v, ch = s.current()
			fmt.Fprintf(w, "event: refresh\ndata: %d\n\n", v)
			fl.Flush()
		}
	}
}
