package evalworker

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/resolve"
	"github.com/vmo-cue/vmo-cue/internal/validate"
)

// loadBatched loads the fleet at dir a batch of clusters at a time (engine.Options.Only), so that the
// worker's heap holds one batch's evaluation, not the fleet's: each batch is validated, handed to
// each (which renders it) and dropped before the next; reset is called before each round (what
// an earlier round rendered goes). It gives the header: every cluster's summary.
//
// The result is the whole fleet's, exactly: the checks that span clusters — MAC assignment and
// uniqueness across a layer-2 domain, one kubeconfig context per cluster — see every cluster they
// compare. A first round takes the clusters in name order, each batch's MAC assignment avoiding
// what the batches before it took in its layer-2 domains (resolve.Parts). That is the whole fleet's
// result unless a MAC written in a batch was taken in an earlier one, or a context used in a batch
// was used in an earlier one (round.split): then a second round evaluates again with batches made of
// whole groups (a group larger than batch is a batch of its own). When a cluster's evaluation was
// stopped by the budget (its domain unknown) and any cluster declares a domain, the fleet is loaded
// at once. batch <= 0 loads the fleet at once.
func loadBatched(dir string, opts desired.Options, batch int, reset func() error, each func(*validate.Result) error) (*header, error) {
	repo, err := desired.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	rounds := 0
	run := func(batches [][]string) (*round, error) {
		if rounds++; rounds > 1 {
			// The first round forgot the files of the clusters it loaded: read them again.
			if repo, err = desired.Open(dir, opts); err != nil {
				return nil, err
			}
		}
		r, err := runBatches(repo, opts, reset, batches, each)
		if r != nil {
			r.header.Rounds = rounds
		}
		return r, err
	}
	if len(opts.Only) > 0 {
		return loadOnly(opts, run)
	}
	names := repo.Clusters()
	sort.Strings(names)
	if batch <= 0 || batch >= len(names) {
		r, err := run([][]string{nil})
		return headerOf(r), err
	}
	r, err := run(chunks(names, batch))
	if err != nil || len(r.header.Shared) > 0 {
		return headerOf(r), err
	}
	if r.stopped && len(r.domain) > 0 {
		r, err = run([][]string{nil})
		return headerOf(r), err
	}
	if r.split {
		if r, err = run(pack(r.groups(), batch)); err != nil {
			return nil, err
		}
		if r.stopped && len(r.domain) > 0 || r.split {
			r, err = run([][]string{nil})
			return headerOf(r), err
		}
	}
	return &r.header, nil
}

// loadOnly evaluates and validates only opts.Only's clusters (an agent's own), or the whole fleet
// when one of them declares a layer-2 domain (MACs are assigned and checked across the domain,
// which spans clusters).
func loadOnly(opts desired.Options, run func([][]string) (*round, error)) (*header, error) {
	r, err := run([][]string{opts.Only})
	if err != nil || len(r.header.Shared) > 0 {
		return headerOf(r), err
	}
	for _, name := range opts.Only {
		if _, ok := r.domain[name]; ok {
			r, err = run([][]string{nil})
			return headerOf(r), err
		}
	}
	return &r.header, nil
}

func headerOf(r *round) *header {
	if r == nil {
		return nil
	}
	return &r.header
}

// round is what a round of batches learnt.
type round struct {
	header header
	// batchOf is each cluster's batch; domain each cluster's layer-2 domain (if any), context each
	// declared cluster's kubeconfig context.
	batchOf, domain, context map[string]int
	// stopped: the evaluation of a cluster was stopped (budget).
	stopped bool
	// split: a check that spans clusters compared clusters of different batches (a MAC of a layer-2
	// domain written in a batch was taken in an earlier one, or a context was used in an earlier
	// one): the batches' results may differ from the whole fleet's.
	split bool
}

// runBatches evaluates each batch (nil: every cluster) in turn, each as the CLI loads a fleet
// (desired's Load, with the batch as Only), MAC assignment carried from batch to batch; a batch's
// files are forgotten once it is done (the checkout cannot serve another round).
func runBatches(repo *desired.Checkout, opts desired.Options, reset func() error, batches [][]string, each func(*validate.Result) error) (*round, error) {
	if err := reset(); err != nil {
		return nil, err
	}
	r := &round{batchOf: map[string]int{}, domain: map[string]int{}, context: map[string]int{}}
	domains, contexts := map[string]int{}, map[string]int{}
	contextBatch := map[string]int{}
	id := func(m map[string]int, k string) int {
		if _, ok := m[k]; !ok {
			m[k] = len(m)
		}
		return m[k]
	}
	parts := resolve.NewParts()
	for i, only := range batches {
		o := opts
		o.Only, o.Parts = only, parts
		res, err := repo.Load(o)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			r.header.Fleet = res.Fleet.Name
			if res.Fleet.Rollout != nil {
				if r.header.Rollout, err = json.Marshal(res.Fleet.Rollout); err != nil {
					return nil, fmt.Errorf("encoding the rollout: %w", err)
				}
			}
			if res.Shared.HasErrors() {
				// The same in every batch: nothing is rendered.
				r.header.Shared = res.Shared.Errors()
				return r, nil
			}
		}
		for _, c := range res.Clusters {
			r.batchOf[c.Name] = i
			if c.L2Domain != "" {
				r.domain[c.Name] = id(domains, c.L2Domain)
			}
			if c.Declared {
				r.context[c.Name] = id(contexts, c.Context)
				if b, ok := contextBatch[c.Context]; ok && b != i {
					r.split = true
				}
				contextBatch[c.Context] = i
			}
			if c.Unevaluated != "" {
				r.stopped = true
			}
		}
		r.split = r.split || parts.Split
		r.header.Clusters = append(r.header.Clusters, summaries(res)...)
		if err := each(res); err != nil {
			return nil, err
		}
		res = nil
		if only != nil {
			repo.Forget(only)
		}
		freeBatch()
	}
	sort.Slice(r.header.Clusters, func(i, j int) bool { return r.header.Clusters[i].Name < r.header.Clusters[j].Name })
	return r, nil
}

// groups are the clusters that must be evaluated together: joined by a layer-2 domain or a context.
func (r *round) groups() [][]string {
	parent := map[string]string{}
	var find func(string) string
	find = func(n string) string {
		if p, ok := parent[n]; ok && p != n {
			parent[n] = find(p)
			return parent[n]
		}
		parent[n] = n
		return n
	}
	union := func(a, b string) {
		if ra, rb := find(a), find(b); ra != rb {
			if rb < ra {
				ra, rb = rb, ra
			}
			parent[rb] = ra
		}
	}
	names := make([]string, 0, len(r.batchOf))
	for n := range r.batchOf {
		names = append(names, n)
	}
	sort.Strings(names)
	firstOfDomain, firstOfContext := map[int]string{}, map[int]string{}
	for _, n := range names {
		find(n)
		if d, ok := r.domain[n]; ok {
			if f, ok := firstOfDomain[d]; ok {
				union(f, n)
			} else {
				firstOfDomain[d] = n
			}
		}
		if c, ok := r.context[n]; ok {
			if f, ok := firstOfContext[c]; ok {
				union(f, n)
			} else {
				firstOfContext[c] = n
			}
		}
	}
	byRoot := map[string][]string{}
	var roots []string
	for _, n := range names {
		root := find(n)
		if _, ok := byRoot[root]; !ok {
			roots = append(roots, root)
		}
		byRoot[root] = append(byRoot[root], n)
	}
	out := make([][]string, 0, len(roots))
	for _, root := range roots {
		out = append(out, byRoot[root])
	}
	return out
}

// pack fills batches of at most size clusters with whole groups, in order (a larger group is a
// batch of its own).
func pack(groups [][]string, size int) [][]string {
	var out [][]string
	var cur []string
	for _, g := range groups {
		if len(cur) > 0 && len(cur)+len(g) > size {
			out = append(out, cur)
			cur = nil
		}
		cur = append(cur, g...)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// chunks cuts names into batches of at most size.
func chunks(names []string, size int) [][]string {
	var out [][]string
	for len(names) > size {
		out = append(out, names[:size:size])
		names = names[size:]
	}
	return append(out, names)
}
