package validate

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/engine"
)

// family are the kinds a cluster folder may hold besides VirtualMachines, by kind: their apiVersion
// and whether they are namespaced. Their schemas are their CRDs' of the cluster's releases.
var family = map[string]struct {
	apiVersion string
	namespaced bool
}{
	"DataVolume":                        {"cdi.kubevirt.io/v1beta1", true},
	"VirtualMachineInstancetype":        {"instancetype.kubevirt.io/v1beta1", true},
	"VirtualMachineClusterInstancetype": {"instancetype.kubevirt.io/v1beta1", false},
	"VirtualMachinePreference":          {"instancetype.kubevirt.io/v1beta1", true},
	"VirtualMachineClusterPreference":   {"instancetype.kubevirt.io/v1beta1", false},
}

// Object is a checked object of the VM family that is not a VirtualMachine: a DataVolume, an
// instance type or a preference.
type Object struct {
	*engine.VM
	Kind, Namespace, Name string
}

// Path returns the finding path of a field of the object: `<Kind>."<namespace>/<name>".<path>`.
func (o *Object) Path(path ...string) string {
	id := o.Name
	if o.Namespace != "" {
		id = o.Namespace + "/" + o.Name
	}
	return engine.PathString(append([]string{o.Kind, id}, path...)...)
}

// checkFamily checks a document of a cluster folder that declares a kind of the family; it reports
// whether it was one (handled, valid or not).
func checkFamily(c *Cluster, ev *engine.VM, seen map[string]bool, bound *diag.Bounder) bool {
	kind, _ := ev.Object["kind"].(string)
	apiVersion, _ := ev.Object["apiVersion"].(string)
	f, ok := family[kind]
	if !ok || !ev.FromYAML {
		return false
	}
	o := &Object{VM: ev, Kind: kind, Name: ev.Name()}
	if f.namespaced {
		o.Namespace = ev.Namespace()
		if o.Namespace == "" {
			o.Namespace = c.Namespace
		}
	}
	if apiVersion != f.apiVersion {
		c.Diags.Errorf("vm-kind", o.Path("apiVersion"), []diag.Position{ev.Pos("apiVersion")},
			"%s %s is not served here: vmo-cue accepts %s %s (change apiVersion)", apiVersion, kind, f.apiVersion, kind)
		return true
	}
	s, err := SchemaFor(kind, c.Releases())
	if err != nil {
		c.Diags.Errorf("schema", o.Path(), []diag.Position{ev.Pos()}, "%v", err)
		return true
	}
	for _, e := range s.Validate(ev.Object) {
		c.Diags.Errorf("schema", o.Path(e.Path...), []diag.Position{ev.Pos(e.Path...)}, "%s", e.Message)
		c.Diags = bound.Bound(c.Diags)
	}
	if errs := validation.IsDNS1123Subdomain(o.Name); o.Name == "" || len(errs) > 0 {
		why := "it has none"
		if o.Name != "" {
			why = strings.Join(errs, "; ")
		}
		c.Diags.Errorf("vm-name", o.Path("metadata", "name"), []diag.Position{ev.Pos("metadata", "name")},
			"%s name %q is not a DNS-1123 subdomain: %s", kind, o.Name, why)
		return true
	}
	if f.namespaced && isSystemNamespace(o.Namespace) && !c.allowsSystem(o.Namespace) {
		c.Diags.Errorf("system-namespace", o.Path("metadata", "namespace"), []diag.Position{ev.Pos("metadata", "namespace")},
			"%s %s/%s is in system namespace %s: %s", kind, o.Namespace, o.Name, o.Namespace, allowHint(c, o.Namespace))
	}
	for _, cf := range clusterSet {
		if !isEmpty(get(ev.Object, cf.path...)) {
			c.Diags.Errorf("vm-cluster-field", o.Path(cf.path...), []diag.Position{ev.Pos(cf.path...)},
				"%s is set by the cluster, not git: remove it", strings.Join(cf.path, "."))
		}
	}
	id := fmt.Sprintf("%s %s/%s", kind, o.Namespace, o.Name)
	if seen[id] {
		c.Diags.Errorf("vm-unique", o.Path("metadata", "name"), []diag.Position{ev.Pos("metadata", "name")},
			"%s is defined twice in cluster %s", diag.Name(strings.TrimPrefix(id, kind+" ")), diag.Name(c.Name))
		return true
	}
	seen[id] = true
	c.Objects = append(c.Objects, o)
	return true
}
