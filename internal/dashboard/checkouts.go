package dashboard

import (
	"fmt"
	"sort"
	"sync"
)

// Checkouts is git's view in the controller: the controller records, after each fetch, the
// read-only checkout of each Fleet's revision (internal/source's cache); the dashboard loads the
// GitView of each revision once (cached by commit) and joins the Fleets of its namespace.
type Checkouts struct {
	mu    sync.Mutex
	last  map[string]Checkout // by Fleet name
	views map[string]*GitView // by commit
	errs  map[string]string   // by commit: why its view could not be loaded
}

// Checkout is a Fleet's last fetched revision.
type Checkout struct {
	// Dir is the checkout (no .git; read-only, shared with the reconciler).
	Dir string
	// Commit, Branch (the ref followed) and Subject describe it.
	Commit, Branch, Subject string
}

// Record remembers the last fetched revision of a Fleet.
func (c *Checkouts) Record(fleet string, co Checkout) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last = map[string]Checkout{}
	}
	c.last[fleet] = co
}

// View is the GitView of the Fleets' last fetched revisions: each revision is loaded once, through
// fleetfs (desired.Load), while its checkout is in place. With several Fleets, their clusters are
// joined, and the commit and vet result shown are those of the first Fleet by name that has one
// (the findings of all). nil, nil while no revision was fetched by this replica.
func (c *Checkouts) View() (*GitView, error) {
	c.mu.Lock()
	fleets := make([]string, 0, len(c.last))
	for f := range c.last {
		fleets = append(fleets, f)
	}
	sort.Strings(fleets)
	cos := make([]Checkout, len(fleets))
	for i, f := range fleets {
		cos[i] = c.last[f]
	}
	c.mu.Unlock()
	if len(cos) == 0 {
		return nil, nil
	}
	var views []*GitView
	var errs []string
	for i, co := range cos {
		g, err := c.load(co)
		if err != nil {
			errs = append(errs, fmt.Sprintf("Fleet %s: %v", fleets[i], err))
			continue
		}
		views = append(views, g)
	}
	if len(views) == 0 {
		return nil, fmt.Errorf("%s", errs[0])
	}
	if len(views) == 1 {
		return views[0], nil
	}
	out := &GitView{Commit: views[0].Commit, Result: views[0].Result, Dir: views[0].Dir, Clusters: map[string]*GitCluster{}}
	for _, g := range views {
		out.Findings = append(out.Findings, g.Findings...)
		out.Errors += g.Errors
		for name, gc := range g.Clusters {
			if _, ok := out.Clusters[name]; !ok {
				out.Clusters[name] = gc
			}
		}
	}
	return out, nil
}

// load returns the cached view of a revision, loading it the first time. Views of commits no Fleet
// follows any more are dropped.
func (c *Checkouts) load(co Checkout) (*GitView, error) {
	c.mu.Lock()
	if c.views == nil {
		c.views, c.errs = map[string]*GitView{}, map[string]string{}
	}
	g, msg := c.views[co.Commit], c.errs[co.Commit]
	c.mu.Unlock()
	if g != nil {
		return g, nil
	}
	if msg != "" {
		return nil, fmt.Errorf("%s", msg)
	}
	g, err := LoadGit(co.Dir)
	c.mu.Lock()
	defer c.mu.Unlock()
	live := map[string]bool{}
	for _, l := range c.last {
		live[l.Commit] = true
	}
	for k := range c.views {
		if !live[k] {
			delete(c.views, k)
		}
	}
	for k := range c.errs {
		if !live[k] {
			delete(c.errs, k)
		}
	}
	if err != nil {
		c.errs[co.Commit] = err.Error()
		return nil, err
	}
	// The checkout has no .git: the commit is the revision the controller fetched.
	g.Commit = Commit{Hash: co.Commit, Branch: co.Branch, Subject: co.Subject}
	c.views[co.Commit] = g
	return g, nil
}

// FleetOf names the Fleet whose last fetched revision declares the cluster ("" if none does).
func (c *Checkouts) FleetOf(cluster string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	fleets := make([]string, 0, len(c.last))
	for f := range c.last {
		fleets = append(fleets, f)
	}
	sort.Strings(fleets)
	for _, f := range fleets {
		if g := c.views[c.last[f].Commit]; g != nil && g.Clusters[cluster] != nil {
			return f
		}
	}
	return ""
}
