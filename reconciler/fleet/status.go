package fleet

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
)

// LocalState is what this machine remembers of clusters between runs: when each was last seen, at
// which revision, and the backoff for offline ones. It never holds credentials.
type LocalState struct {
	path     string
	mu       sync.Mutex
	Clusters map[string]*Remembered `json:"clusters"`
}

// Remembered is one cluster in the local state.
type Remembered struct {
	LastSeen time.Time `json:"lastSeen,omitempty"`
	Revision string    `json:"revision,omitempty"`
	// VMs is how many VMs the cluster had at that revision (shown while it is offline).
	VMs          int                 `json:"vms,omitempty"`
	State        clusterstatus.State `json:"state,omitempty"`
	Failures     int                 `json:"failures,omitempty"`
	NextRetry    time.Time           `json:"nextRetry,omitempty"`
	OfflineSince time.Time           `json:"offlineSince,omitempty"`
}

// OpenState loads the local state from dir (created if needed); "" keeps it in memory only.
func OpenState(dir string) (*LocalState, error) {
	s := &LocalState{Clusters: map[string]*Remembered{}}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state folder %s: %w", dir, err)
	}
	s.path = filepath.Join(dir, "clusters.json")
	data, err := os.ReadFile(s.path)
	if err == nil {
		if err := json.Unmarshal(data, s); err != nil {
			return nil, fmt.Errorf("state file %s: %w", s.path, err)
		}
	}
	if s.Clusters == nil {
		s.Clusters = map[string]*Remembered{}
	}
	return s, nil
}

// Get returns what is remembered of a cluster (a zero value if nothing).
func (s *LocalState) Get(name string) Remembered {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.Clusters[name]; ok {
		return *r
	}
	return Remembered{}
}

// Update changes what is remembered of a cluster.
func (s *LocalState) Update(name string, f func(*Remembered)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.Clusters[name]
	if !ok {
		r = &Remembered{}
		s.Clusters[name] = r
	}
	f(r)
}

// RestoreOffline remembers a cluster offline since `since`, as a record that outlives this process
// says (the controller's FleetCluster, after a restart or a change of leader), with the backoff it
// would have had had it been retried all along: tries at since, since+30 s, then doubling, the next
// one after now. lastSeen, revision and vms are its last known.
func (s *LocalState) RestoreOffline(name string, since, lastSeen time.Time, revision string, vms int, now time.Time) {
	n, next := 1, since.Add(backoff(1))
	for !next.After(now) {
		n++
		next = next.Add(backoff(n))
	}
	s.Update(name, func(r *Remembered) {
		*r = Remembered{State: clusterstatus.Offline, OfflineSince: since, Failures: n, NextRetry: next, LastSeen: lastSeen, Revision: revision, VMs: vms}
	})
}

// Save writes the state (atomically).
func (s *LocalState) Save() error {
	if s.path == "" {
		return nil
	}
	s.mu.Lock()
	data, err := json.MarshalIndent(s, "", "  ")
	s.mu.Unlock()
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.path)
}

// backoff is the wait before retrying a cluster offline n times in a row: 30 s doubling, at most 15 min.
func backoff(n int) time.Duration {
	b := offlineBackoff
	d := b.Step()
	for i := 1; i < n && d < b.Cap; i++ { // at the cap it stays
		d = b.Step()
	}
	return d
}

// offlineBackoff is the schedule of an offline cluster's retries (Steps: until the cap).
var offlineBackoff = wait.Backoff{Duration: 30 * time.Second, Factor: 2, Cap: 15 * time.Minute, Steps: math.MaxInt32}
