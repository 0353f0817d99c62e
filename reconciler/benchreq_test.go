package reconciler_test

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// requestLog counts a client's requests by verb (GET, LIST, PATCH apply, PATCH dry-run, POST dry-run,
// POST, PUT, DELETE) and sums their wall time per verb, for the benchmarks' reports.
type requestLog struct {
	mu    sync.Mutex
	count map[string]int
	took  map[string]time.Duration
}

func newRequestLog() *requestLog {
	return &requestLog{count: map[string]int{}, took: map[string]time.Duration{}}
}

// wrap returns a copy of cfg whose requests are logged.
func (l *requestLog) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			start := time.Now()
			resp, err := rt.RoundTrip(r)
			l.add(verbOf(r), time.Since(start))
			return resp, err
		})
	})
	return cfg
}

func (l *requestLog) add(verb string, d time.Duration) {
	l.mu.Lock()
	l.count[verb]++
	l.took[verb] += d
	l.mu.Unlock()
}

// verbOf names a request's verb as the report counts it.
func verbOf(r *http.Request) string {
	dry := r.URL.Query().Get("dryRun") != ""
	path := r.URL.Path
	switch r.Method {
	case http.MethodGet:
		if path == "/api" || path == "/apis" || strings.HasPrefix(path, "/openapi") {
			return "GET discovery"
		}
		// A LIST names a resource, a GET one object: /api/v1/namespaces/x/configmaps is a LIST,
		// /api/v1/namespaces/x/configmaps/y a GET.
		parts := strings.Split(strings.Trim(path, "/"), "/")
		if parts[0] == "apis" {
			parts = parts[1:] // the group
		}
		if len(parts) < 2 {
			return "GET discovery" // /version, /apis/<group>
		}
		parts = parts[2:] // api|group, version
		if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) != 2 {
			parts = parts[2:]
		}
		if len(parts) <= 1 {
			return "LIST"
		}
		return "GET"
	case http.MethodPatch:
		if dry {
			return "PATCH dry-run"
		}
		return "PATCH apply"
	case http.MethodPost:
		if dry {
			return "POST dry-run"
		}
		return "POST"
	}
	return r.Method
}

// String reports the counts and the summed time of each verb.
func (l *requestLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	verbs := make([]string, 0, len(l.count))
	for v := range l.count {
		verbs = append(verbs, v)
	}
	sort.Strings(verbs)
	var b strings.Builder
	for i, v := range verbs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d (%s)", v, l.count[v], l.took[v].Round(time.Millisecond))
	}
	return b.String()
}
