package reconciler

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Health of a cluster's objects. kstatus judges most of them (workloads rolled out, custom resources
// Ready); it does not understand VMs, whose intended state depends on their run strategy, nor
// DataVolumes, which are done, not "current":
//
//   - a VirtualMachine is healthy when its state is what its run strategy intends: Halted (or running:
//     false) and stopped; Manual in any state but an error; RerunOnFailure or Once running and Ready, or
//     finished (Stopped); Always (or running: true) and Ready. A VM whose template changed in a way
//     that needs a restart (condition RestartRequired) is healthy: the restart is its operators' to
//     make, and the report names it. Otherwise a VM whose spec KubeVirt has not observed yet
//     (status.observedGeneration behind metadata.generation) is still in progress. The run strategy is
//     the live VM's: with the power state owned by operators, theirs is the intent.
//   - a DataVolume is healthy when Succeeded, or WaitForFirstConsumer / PendingPopulation (it is
//     imported when its first consumer is scheduled).

// HealthReport is what a health check found healthy with a reservation.
type HealthReport struct {
	// RestartRequired names the VMs ("namespace/name") that wait for a restart to run git's template.
	RestartRequired []string
}

// Warning is a line for a person, or "" when there is nothing to say.
func (h *HealthReport) Warning() string {
	if h == nil || len(h.RestartRequired) == 0 {
		return ""
	}
	verb := "VMs wait for a restart to run their new template"
	if len(h.RestartRequired) == 1 {
		verb = "VM waits for a restart to run its new template"
	}
	return fmt.Sprintf("%d %s: %s", len(h.RestartRequired), verb, strings.Join(h.RestartRequired, ", "))
}

var (
	gkVM = schema.GroupKind{Group: "kubevirt.io", Kind: "VirtualMachine"}
	gkDV = schema.GroupKind{Group: "cdi.kubevirt.io", Kind: "DataVolume"}
)

// WaitHealthy waits until the given objects are healthy (see above; kstatus Current for the kinds it
// knows) and reports the VMs waiting for a restart. Objects whose kind the cluster does not serve are
// left out (they are pending). It fails fast on an object kstatus finds Failed.
func (c *Cluster) WaitHealthy(ctx context.Context, items []*Item, timeout time.Duration) (*HealthReport, error) {
	var set []*Item
	own := map[schema.GroupKind][]*Item{}
	for _, it := range items {
		gk := schema.GroupKind{Group: it.ID.Group, Kind: it.ID.Kind}
		if _, ok := c.Mapping(it.Object.GroupVersionKind()); !ok {
			continue
		}
		if gk == gkVM || gk == gkDV {
			own[gk] = append(own[gk], it)
			continue
		}
		set = append(set, it)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var wg sync.WaitGroup
	var kerr error
	if len(set) > 0 {
		wg.Go(func() {
			kerr = c.waitKstatus(ctx, set)
			if kerr != nil {
				cancel() // failed fast: the VMs need not be waited for
			}
		})
	}
	rep, oerr := c.waitOwn(parent, ctx, own)
	wg.Wait()
	if err := errors.Join(kerr, oerr); err != nil {
		// The whole timeout waited out (not a Failed object, not the caller giving up). kstatus's
		// own timeout cancels ctx, so the clock tells, not ctx.Err().
		deadline, _ := ctx.Deadline()
		timedOut := !time.Now().Before(deadline) && parent.Err() == nil
		return rep, &HealthError{Timeout: timeout, TimedOut: timedOut, Err: err}
	}
	return rep, nil
}

// HealthError is a health check that did not pass: what was unhealthy, and whether the check waited
// its whole timeout (TimedOut) rather than failing fast on an object found Failed.
type HealthError struct {
	Timeout  time.Duration
	TimedOut bool
	Err      error
}

func (e *HealthError) Error() string {
	return fmt.Sprintf("not healthy within %s: %v", e.Timeout, e.Err)
}

func (e *HealthError) Unwrap() error { return e.Err }

// waitKstatus polls the objects every second (a GET each) until kstatus finds every one Current, one
// Failed (it fails fast), or ctx ends, as fluxcd/pkg/ssa's WaitForSet does with its poller and in its
// words, without linking kubectl's packages (the agent's binary stays small).
func (c *Cluster) waitKstatus(ctx context.Context, items []*Item) error {
	last := make([]string, len(items))
	for {
		current, failed := true, false
		for i, it := range items {
			if last[i] == string(status.CurrentStatus) {
				continue
			}
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(it.Object.GroupVersionKind())
			err := c.client().Get(ctx, client.ObjectKey{Namespace: it.ID.Namespace, Name: it.ID.Name}, u)
			switch {
			case apierrors.IsNotFound(err):
				last[i] = string(status.NotFoundStatus)
			case err != nil && ctx.Err() != nil:
				// The deadline: what was last seen stands.
			case err != nil:
				last[i] = string(status.UnknownStatus) + ": " + err.Error()
			default:
				res, err := status.Compute(u)
				if err != nil {
					last[i] = string(status.UnknownStatus) + ": " + err.Error()
				} else {
					last[i] = string(res.Status)
				}
			}
			current = current && last[i] == string(status.CurrentStatus)
			failed = failed || last[i] == string(status.FailedStatus)
		}
		if current {
			return nil
		}
		timedOut := false
		if !failed {
			select {
			case <-ctx.Done():
				if errors.Is(ctx.Err(), context.Canceled) {
					return ctx.Err()
				}
				timedOut = true
			case <-time.After(time.Second):
				continue
			}
		}
		var errs []string
		for i, it := range items {
			st, detail, _ := strings.Cut(last[i], ": ")
			if st == string(status.FailedStatus) || timedOut && st != string(status.CurrentStatus) {
				id := it.ID.Kind + "/"
				if it.ID.Namespace != "" {
					id += it.ID.Namespace + "/"
				}
				e := fmt.Sprintf("%s status: '%s'", id+it.ID.Name, st)
				if detail != "" {
					e += ": " + detail
				}
				errs = append(errs, e)
			}
		}
		msg := "failed early due to stalled resources"
		if timedOut {
			msg = "timeout waiting for"
		}
		return fmt.Errorf("%s: [%s]", msg, strings.Join(errs, ", "))
	}
}

// waitOwn polls VMs and DataVolumes (one LIST per kind and round) until all are healthy or stop ends;
// the LISTs run under ctx, so that the last round before the deadline still tells what was unhealthy.
func (c *Cluster) waitOwn(ctx, stop context.Context, own map[schema.GroupKind][]*Item) (*HealthReport, error) {
	rep := &HealthReport{}
	if len(own) == 0 {
		return rep, nil
	}
	for {
		rep = &HealthReport{}
		var bad []string
		for gk, items := range own {
			live, err := c.listWhole(ctx, items[0].Object.GroupVersionKind())
			if err != nil {
				return rep, err
			}
			for _, it := range items {
				u := live[it.ID.Namespace+"/"+it.ID.Name]
				var ok, restart bool
				var why string
				switch {
				case u == nil:
					why = "absent"
				case gk == gkVM:
					ok, restart, why = vmHealth(u)
				default:
					ok, why = dvHealth(u)
				}
				if restart {
					rep.RestartRequired = append(rep.RestartRequired, it.ID.Namespace+"/"+it.ID.Name)
				}
				if !ok {
					bad = append(bad, it.ID.String()+": "+why)
				}
			}
		}
		sort.Strings(rep.RestartRequired)
		if len(bad) == 0 {
			return rep, nil
		}
		select {
		case <-stop.Done():
			sort.Strings(bad)
			if len(bad) > 10 {
				bad = append(bad[:10], fmt.Sprintf("and %d more", len(bad)-10))
			}
			return rep, errors.New(strings.Join(bad, "; "))
		case <-time.After(time.Second):
		}
	}
}

// listWhole lists every object of a kind, by "namespace/name".
func (c *Cluster) listWhole(ctx context.Context, gvk schema.GroupVersionKind) (map[string]*unstructured.Unstructured, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := c.client().List(ctx, list); err != nil {
		return nil, fmt.Errorf("listing %s: %w", gvk.Kind, err)
	}
	out := make(map[string]*unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		u := &list.Items[i]
		out[u.GetNamespace()+"/"+u.GetName()] = u
	}
	return out, nil
}

// vmFailing are printable statuses of a VM that no wait mends.
var vmFailing = map[string]bool{
	"CrashLoopBackOff": true, "ErrorUnschedulable": true, "ErrImagePull": true, "ImagePullBackOff": true,
	"ErrorPvcNotFound": true, "DataVolumeError": true, "Unknown": true,
}

// vmHealth judges a live VM by its run strategy (see the top of the file); why says what is missing.
func vmHealth(u *unstructured.Unstructured) (ok, restart bool, why string) {
	strategy, _, _ := unstructured.NestedString(u.Object, "spec", "runStrategy")
	if running, found, _ := unstructured.NestedBool(u.Object, "spec", "running"); found && strategy == "" {
		strategy = "Halted"
		if running {
			strategy = "Always"
		}
	}
	if strategy == "" {
		strategy = "Halted"
	}
	printable, _, _ := unstructured.NestedString(u.Object, "status", "printableStatus")
	ready, _, _ := unstructured.NestedBool(u.Object, "status", "ready")
	if conditionTrue(u, "Ready") {
		ready = true
	}
	restart = conditionTrue(u, "RestartRequired")
	state := printable
	if state == "" {
		state = "no status yet"
	}
	why = fmt.Sprintf("runStrategy %s, %s", strategy, state)
	if vmFailing[printable] {
		return false, restart, why
	}
	if og, found, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration"); found && og < u.GetGeneration() && !restart {
		return false, false, fmt.Sprintf("%s (KubeVirt has not observed generation %d yet)", why, u.GetGeneration())
	}
	stopped := printable == "Stopped"
	switch strategy {
	case "Halted":
		ok = stopped || (printable == "" && !ready)
	case "Manual":
		ok = true
	case "RerunOnFailure", "Once":
		ok = ready || stopped
	default: // Always
		ok = ready
	}
	if !ok && (strategy == "Always" || strategy == "RerunOnFailure" || strategy == "Once") {
		why += ", not Ready"
	}
	return ok, restart && ok, why
}

// dvHealth judges a live DataVolume by its phase.
func dvHealth(u *unstructured.Unstructured) (bool, string) {
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	switch phase {
	case "Succeeded", "WaitForFirstConsumer", "PendingPopulation":
		return true, ""
	case "":
		return false, "no phase yet"
	}
	return false, "phase " + phase
}

func conditionTrue(u *unstructured.Unstructured, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ && m["status"] == "True" {
			return true
		}
	}
	return false
}
