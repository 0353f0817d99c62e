package validate

import (
	"sort"
	"strconv"
	"strings"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/macs"
)

// macUse is one interface's MAC, for uniqueness checks.
type macUse struct {
	cluster *Cluster
	vm      *VM
	iface   *Interface
}

func (u macUse) path() []string {
	return []string{"spec", "template", "spec", "domain", "devices", "interfaces", strconv.Itoa(u.iface.Index), "macAddress"}
}

func (u macUse) pos() diag.Position { return u.vm.Pos(u.path()...) }

// checkMACs checks every written MAC against the policy and for uniqueness inside each VM and the
// cluster (the interfaces that need one and have none get theirs from internal/resolve).
func checkMACs(c *Cluster) {
	inCluster := map[macs.MAC]macUse{}
	var bound diag.Bounder
	for _, vm := range c.VMs {
		c.Diags = bound.Bound(c.Diags)
		inVM := map[macs.MAC]macUse{}
		for _, ifc := range vm.Interfaces {
			if ifc.MAC == "" {
				continue
			}
			u := macUse{cluster: c, vm: vm, iface: ifc}
			if v := c.MACPolicy.Check(ifc.MAC); len(v) > 0 {
				c.Diags.Errorf(v[0].Rule, vm.Path(u.path()...), []diag.Position{u.pos()}, "%s", v[0].Message)
				continue
			}
			m, _ := macs.Parse(ifc.MAC)
			if prev, dup := inVM[m]; dup {
				c.Diags.Errorf("mac-unique", vm.Path(u.path()...), []diag.Position{prev.pos(), u.pos()},
					"MAC %s is used twice in VM %s (interfaces %q and %q)", m, diag.Name(vm.Namespace+"/"+vm.Name), prev.iface.Name, ifc.Name)
				continue
			}
			inVM[m] = u
			if prev, dup := inCluster[m]; dup {
				c.Diags.Errorf("mac-unique", vm.Path(u.path()...), []diag.Position{prev.pos(), u.pos()},
					"MAC %s is used by VM %s and VM %s in cluster %s", m,
					diag.Name(prev.vm.Namespace+"/"+prev.vm.Name), diag.Name(vm.Namespace+"/"+vm.Name), diag.Name(c.Name))
				continue
			}
			inCluster[m] = u
		}
	}
}

// checkL2Domains checks that the MACs written in clusters that share a layer-2 domain are unique
// across them. MACs are assigned after validation (internal/resolve), avoiding every MAC written
// in the domain and every one assigned before: an assigned MAC is unique across the domain by
// construction, so only written ones are checked here. A cluster whose
// evaluation was stopped has unknown MACs and an unknown domain: every cluster that declares a domain
// fails, as it cannot be checked against it.
func checkL2Domains(clusters []*Cluster) {
	var stopped []string
	for _, c := range clusters {
		if c.Unevaluated != "" {
			stopped = append(stopped, c.Name)
		}
	}
	byDomain := map[string][]*Cluster{}
	for _, c := range clusters {
		if c.L2Domain != "" {
			byDomain[c.L2Domain] = append(byDomain[c.L2Domain], c)
			if len(stopped) > 0 {
				c.errorAt("mac-unique-l2", []string{"l2Domain"},
					"MACs of layer-2 domain %s cannot be checked across clusters: the evaluation of cluster %s was stopped (its %s finding), so its MACs and layer-2 domain are unknown",
					c.L2Domain, strings.Join(stopped, ", cluster "), engine.RuleBudget)
			}
		}
	}
	for domain, cs := range byDomain {
		if len(cs) < 2 {
			continue
		}
		sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
		seen := map[macs.MAC]macUse{}
		for _, c := range cs {
			for _, vm := range c.VMs {
				for _, ifc := range vm.Interfaces {
					m, err := macs.Parse(ifc.MAC)
					if err != nil {
						continue
					}
					u := macUse{cluster: c, vm: vm, iface: ifc}
					prev, dup := seen[m]
					if !dup {
						seen[m] = u
						continue
					}
					if prev.cluster == c {
						continue // reported by the cluster's own check
					}
					d := diag.Diagnostic{Severity: diag.Error, Rule: "mac-unique-l2", Path: vm.Path(u.path()...),
						Positions: []diag.Position{prev.pos(), u.pos()},
						Message: "MAC " + m.String() + " is used by VM " + diag.Name(prev.vm.Namespace+"/"+prev.vm.Name) + " in cluster " +
							diag.Name(prev.cluster.Name) + " and VM " + diag.Name(vm.Namespace+"/"+vm.Name) + " in cluster " + diag.Name(c.Name) +
							", which share layer-2 domain " + domain}
					prev.cluster.Diags.Add(d)
					c.Diags.Add(d)
				}
			}
		}
	}
}
