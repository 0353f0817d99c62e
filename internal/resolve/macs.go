package resolve

import (
	"slices"
	"sort"
	"strconv"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/macs"
	"github.com/vmo-cue/vmo-cue/internal/validate"
)

// Fleet assigns MACs in a validated fleet: every interface that needs one (validate.Interface's
// NeedsMAC) and has none gets one derived from cluster, namespace, VM and interface (macs.Policy's
// Assign: stable across runs and machines), written to its Assigned. Clusters go in name order;
// the clusters of one layer-2 domain avoid each other's written and assigned MACs as well as their
// own, so an assigned MAC is unique across its domain by construction (validation checks the
// written ones). An interface the cluster's policy has no MAC left for is a mac-assign finding at
// the interface, in its cluster's findings.
func Fleet(r *validate.Result) { fleet(r, nil) }

// Parts carries, from one load of a part of a fleet to the next (the evaluation worker's batches,
// taken in name order), the MACs taken in each layer-2 domain — written or assigned — so that each
// part's clusters avoid what the parts before them took, as the whole fleet's assignment does.
type Parts struct {
	taken map[string]map[macs.MAC]bool
	// Split: a MAC written in a part was taken in an earlier one. Then the parts' results may not
	// be the whole fleet's: a MAC written twice across the domain is a finding at both clusters (the
	// earlier part's cluster was checked without it), and a MAC assigned in an earlier part would
	// have been avoided had the later-written one been known. Otherwise they are exactly the whole
	// fleet's: each assignment took the first free MAC of a candidate order, every candidate before it
	// is taken in the whole fleet too, and it is not.
	Split bool
}

// NewParts returns Parts with nothing taken.
func NewParts() *Parts { return &Parts{taken: map[string]map[macs.MAC]bool{}} }

// FleetPart is Fleet for a part of a fleet, after the parts before it (p).
func FleetPart(r *validate.Result, p *Parts) { fleet(r, p) }

func fleet(r *validate.Result, p *Parts) {
	domainTaken := map[string]map[macs.MAC]bool{}
	if p != nil {
		domainTaken = p.taken
		for _, c := range r.Clusters {
			for m := range written(c) {
				if c.L2Domain != "" && domainTaken[c.L2Domain][m] {
					p.Split = true
				}
			}
		}
	}
	for _, c := range r.Clusters {
		if c.L2Domain == "" {
			continue
		}
		if domainTaken[c.L2Domain] == nil {
			domainTaken[c.L2Domain] = map[macs.MAC]bool{}
		}
		for m := range written(c) {
			domainTaken[c.L2Domain][m] = true
		}
	}
	for _, c := range r.Clusters {
		taken := written(c)
		d := domainTaken[c.L2Domain]
		for m := range d {
			taken[m] = true
		}
		for _, m := range assign(c, taken) {
			if d != nil {
				d[m] = true
			}
		}
	}
}

// written returns the MACs written in a cluster's VMs (those that parse).
func written(c *validate.Cluster) map[macs.MAC]bool {
	out := map[macs.MAC]bool{}
	for _, vm := range c.VMs {
		for _, ifc := range vm.Interfaces {
			if m, err := macs.Parse(ifc.MAC); err == nil {
				out[m] = true
			}
		}
	}
	return out
}

// interfacesPath is where a VM's interfaces are.
var interfacesPath = []string{"spec", "template", "spec", "domain", "devices", "interfaces"}

// assign derives a MAC for every interface of c that needs one and has none, in a stable order
// (cluster/namespace/VM/interface), avoiding taken, and returns the MACs it assigned.
func assign(c *validate.Cluster, taken map[macs.MAC]bool) []macs.MAC {
	type need struct {
		id  string
		vm  *validate.VM
		ifc *validate.Interface
	}
	var needs []need
	for _, vm := range c.VMs {
		for _, ifc := range vm.Interfaces {
			if ifc.MAC == "" && ifc.NeedsMAC {
				needs = append(needs, need{id: c.Name + "/" + vm.Namespace + "/" + vm.Name + "/" + ifc.Name, vm: vm, ifc: ifc})
			}
		}
	}
	sort.Slice(needs, func(i, j int) bool { return needs[i].id < needs[j].id })
	assigned := map[macs.MAC]bool{}
	var out []macs.MAC
	failed := false
	for _, n := range needs {
		m, err := c.MACPolicy.Assign(n.id, func(m macs.MAC) bool { return taken[m] || assigned[m] })
		if err != nil {
			// The interface has no macAddress: the finding points at the interface.
			at := append(slices.Clone(interfacesPath), strconv.Itoa(n.ifc.Index))
			c.Diags.Errorf("mac-assign", n.vm.Path(at...), []diag.Position{n.vm.Pos(at...)}, "%v", err)
			failed = true
			continue
		}
		assigned[m] = true
		out = append(out, m)
		n.ifc.Assigned = m.String()
	}
	if failed {
		// As validation leaves a cluster's findings: sorted, once each, capped per file.
		c.Diags = c.Diags.Dedup().ForCluster(c.Name).CapFiles(diag.MaxPerFile)
	}
	return out
}
