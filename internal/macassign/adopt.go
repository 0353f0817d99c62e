package macassign

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/macs"
	"github.com/vmo-cue/vmo-cue/internal/validate"
)

// LiveMACs are the MACs a cluster's live VMs have, by "namespace/name" and interface name.
type LiveMACs map[string]map[string]string

// Adopt writes into git the live MACs of one cluster's VMs on the interfaces git leaves without one
// (`vmo-cue mac adopt`), where they are kept like derived MACs are written (next to the interface's
// name, or in a line of the VM's own). Only that cluster's files are edited, and only with live MACs:
// MACs vmo-cue would derive are left to `mac assign`. A live MAC that breaks the cluster's MAC policy
// or is another interface's in git stops the whole run: nothing is written, every such MAC is named.
func Adopt(r *validate.Result, cluster string, live LiveMACs) ([]Edit, error) {
	c := r.Cluster(cluster)
	if c == nil {
		return nil, fmt.Errorf("mac adopt: cluster %s is not in the fleet", diag.Name(cluster))
	}
	if !c.Valid() {
		return nil, fmt.Errorf("mac adopt: cluster %s does not validate: run vmo-cue vet", diag.Name(cluster))
	}
	// Plan writes every Assigned MAC of every valid cluster: here, only this cluster's live ones.
	saved := map[*validate.Interface]string{}
	for _, oc := range r.Clusters {
		for _, vm := range oc.VMs {
			for _, ifc := range vm.Interfaces {
				saved[ifc] = ifc.Assigned
				ifc.Assigned = ""
			}
		}
	}
	defer func() {
		for ifc, a := range saved {
			ifc.Assigned = a
		}
	}()
	inGit := map[macs.MAC]string{}
	for _, vm := range c.VMs {
		for _, ifc := range vm.Interfaces {
			if m, err := macs.Parse(ifc.MAC); err == nil {
				inGit[m] = vm.Namespace + "/" + vm.Name + " interface " + ifc.Name
			}
		}
	}
	var problems []string
	for _, vm := range c.VMs {
		key := vm.Namespace + "/" + vm.Name
		for _, ifc := range vm.Interfaces {
			mac := live[key][ifc.Name]
			if ifc.MAC != "" || mac == "" {
				continue
			}
			where := fmt.Sprintf("VM %s interface %s: live MAC %s", diag.Name(key), diag.Name(ifc.Name), diag.Name(mac))
			if v := c.MACPolicy.Check(mac); len(v) > 0 {
				problems = append(problems, fmt.Sprintf("%s: %s (rule %s)", where, v[0].Message, v[0].Rule))
				continue
			}
			m, _ := macs.Parse(mac)
			if other, dup := inGit[m]; dup {
				problems = append(problems, fmt.Sprintf("%s: used by %s in git (rule mac-unique)", where, diag.Name(other)))
				continue
			}
			inGit[m] = key + " interface " + ifc.Name
			ifc.Assigned = mac
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, fmt.Errorf("mac adopt: cluster %s: nothing written: %w", diag.Name(cluster), errors.New(strings.Join(problems, "; ")))
	}
	return Apply(r)
}
