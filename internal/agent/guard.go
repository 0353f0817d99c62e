package agent

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// guard is the fight guard: an object corrected Max times within Window (another controller keeps
// changing it) is not corrected again; it is Contested, with the manager that kept changing it, until
// git changes the object (a new revision resets the guard).
type guard struct {
	max    int
	window time.Duration

	mu          sync.Mutex
	corrections map[string][]time.Time
	contested   map[string]*contest
}

// contest is one object the guard gave up on.
type contest struct {
	id          inventory.ID
	manager     string
	corrections int
}

func newGuard(max int, window time.Duration) *guard {
	return &guard{max: max, window: window, corrections: map[string][]time.Time{}, contested: map[string]*contest{}}
}

// corrected records corrections made at now, each with the manager whose change was undone; it
// returns the objects that became Contested with them.
func (g *guard) corrected(now time.Time, ids []inventory.ID, managers []string) []inventory.ID {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []inventory.ID
	for i, id := range ids {
		k := id.Key()
		var recent []time.Time
		for _, t := range g.corrections[k] {
			if now.Sub(t) < g.window {
				recent = append(recent, t)
			}
		}
		recent = append(recent, now)
		g.corrections[k] = recent
		if g.max > 0 && len(recent) >= g.max && g.contested[k] == nil {
			g.contested[k] = &contest{id: id, manager: managers[i], corrections: len(recent)}
			out = append(out, id)
		}
	}
	return out
}

// isContested reports whether the object's drift is left alone.
func (g *guard) isContested(id inventory.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.contested[id.Key()] != nil
}

// reset forgets everything: git changed, every object gets its corrections again.
func (g *guard) reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.corrections, g.contested = map[string][]time.Time{}, map[string]*contest{}
}

// list returns the contested objects, sorted.
func (g *guard) list() []contest {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]contest, 0, len(g.contested))
	for _, c := range g.contested {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id.Key() < out[j].id.Key() })
	return out
}

// objectName names an object as the FleetCluster status does: kind/namespace/name, kind/name when
// cluster-scoped.
func objectName(id inventory.ID) string {
	if id.Namespace == "" {
		return id.Kind + "/" + id.Name
	}
	return id.Kind + "/" + id.Namespace + "/" + id.Name
}

func (c contest) String() string {
	by := c.manager
	if by == "" {
		by = "an unknown manager"
	}
	return fmt.Sprintf("%s by %s after %d corrections", objectName(c.id), by, c.corrections)
}
