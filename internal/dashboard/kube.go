package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/clusterstatus"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
	"github.com/vmo-cue/vmo-cue/reconciler/livediff"
)

// KubeSource reads every cluster of a kubeconfig (a context per cluster), as `vmo-cue status` does:
// the status vmo-cue recorded in each cluster, and this machine's local state for one that does not
// answer (Offline since its last-seen time, with the revision it last had).
type KubeSource struct {
	Kubeconfig string
	StateDir   string
	Timeout    time.Duration
}

func (k *KubeSource) load() (*clientcmdapi.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if k.Kubeconfig != "" {
		rules.ExplicitPath = k.Kubeconfig
	}
	raw, err := rules.Load()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return raw, nil
}

func (k *KubeSource) timeout() time.Duration {
	if k.Timeout == 0 {
		return 5 * time.Second
	}
	return k.Timeout
}

// Clusters reads every context's cluster in parallel; each cluster is listed once, an answer winning
// over the local state.
func (k *KubeSource) Clusters(ctx context.Context) ([]ClusterRow, error) {
	raw, err := k.load()
	if err != nil {
		return nil, err
	}
	state, err := fleet.OpenState(k.StateDir)
	if err != nil {
		return nil, err
	}
	var contexts []string
	for name := range raw.Contexts {
		contexts = append(contexts, name)
	}
	sort.Strings(contexts)
	rows := make([]*ClusterRow, len(contexts))
	reached := make([]bool, len(contexts))
	var g errgroup.Group
	g.SetLimit(fleet.DefaultConnectConcurrency)
	for i, name := range contexts {
		g.Go(func() error {
			rows[i], reached[i] = k.readOne(ctx, raw, name, state)
			return nil // a cluster that does not answer is a row Offline
		})
	}
	_ = g.Wait()
	var out []ClusterRow
	index := map[string]int{}
	for j, r := range rows {
		if r == nil {
			continue
		}
		if i, seen := index[r.Name]; seen {
			if reached[j] {
				out[i] = *r
			}
			continue
		}
		index[r.Name] = len(out)
		out = append(out, *r)
	}
	return out, nil
}

func (k *KubeSource) readOne(ctx context.Context, raw *clientcmdapi.Config, ctxName string, state *fleet.LocalState) (*ClusterRow, bool) {
	offline := func(msg string) *ClusterRow {
		name := ctxName
		if c, ok := raw.Contexts[ctxName]; ok && state.Get(ctxName).LastSeen.IsZero() && !state.Get(c.Cluster).LastSeen.IsZero() {
			name = c.Cluster
		}
		r := state.Get(name)
		st := clusterstatus.Offline
		if r.State == clusterstatus.Interrupted {
			st = clusterstatus.Interrupted
		}
		return &ClusterRow{Name: name, State: string(st), Revision: r.Revision, VMs: r.VMs, LastSeen: r.LastSeen, Message: msg}
	}
	rc, err := k.connect(raw, ctxName)
	if err != nil {
		return offline(err.Error()), false
	}
	ctx, cancel := context.WithTimeout(ctx, k.timeout())
	defer cancel()
	s, found, err := clusterstatus.Read(ctx, rc.Client)
	if err != nil {
		return offline("status unreadable: " + err.Error()), false
	}
	if !found {
		return nil, true
	}
	return &ClusterRow{Name: s.Cluster, State: string(s.State), Revision: s.Revision, Synced: s.Synced, LastSeen: time.Now(),
		Drifted: s.Drifted, Orphans: s.Orphans, VMs: s.VMs, Message: s.Message}, true
}

func (k *KubeSource) connect(raw *clientcmdapi.Config, ctxName string) (*reconciler.Cluster, error) {
	if _, ok := raw.Contexts[ctxName]; !ok {
		return nil, fmt.Errorf("no context %q in the kubeconfig", ctxName)
	}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, ctxName, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("context %q: %w", ctxName, err)
	}
	cfg.Timeout = k.timeout()
	rc, err := reconciler.ConnectWithin(cfg, k.timeout())
	if err != nil {
		return nil, fmt.Errorf("unreachable: %w", err)
	}
	return rc, nil
}

// Live reads the cluster's VMs and VMIs and, when git declares the cluster and it validates, the
// objects that differ from git with `vmo-cue diff`'s diff (Secrets masked) and the orphans kept.
func (k *KubeSource) Live(ctx context.Context, cluster string, g *GitView) (*Live, error) {
	raw, err := k.load()
	if err != nil {
		return nil, err
	}
	ctxName := cluster
	vc := g.validated(cluster)
	if vc != nil {
		ctxName = vc.Context
	}
	l := &Live{VMs: map[string]*LiveVM{}, DiffsKnown: true}
	rc, err := k.connect(raw, ctxName)
	if err != nil {
		l.Message = err.Error()
		return l, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 4*k.timeout())
	defer cancel()
	l.Reachable = true
	if err := liveVMs(ctx, rc, l); err != nil {
		l.Message = err.Error()
	}
	if vc == nil || !vc.Valid() {
		return l, nil
	}
	d, err := desired.Render(vc)
	if err != nil {
		return l, nil
	}
	p, err := rc.Observe(ctx, d)
	if err != nil {
		l.Message = err.Error()
		return l, nil
	}
	for _, it := range p.Changes() {
		var buf bytes.Buffer
		if err := livediff.Write(ctx, rc, []*reconciler.Item{it}, &buf); err != nil {
			buf.WriteString(err.Error())
		}
		l.Drift = append(l.Drift, Drift{ID: it.ID.String(), Kind: it.ID.Kind, Namespace: it.ID.Namespace, Name: it.ID.Name,
			Action: string(it.Action), Diff: buf.String()})
	}
	for _, o := range p.Orphans {
		l.Orphans = append(l.Orphans, o.ID.String())
	}
	return l, nil
}

var (
	vmGVK  = schema.GroupVersionKind{Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachineList"}
	vmiGVK = schema.GroupVersionKind{Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachineInstanceList"}
)

// liveVMs lists the cluster's VMs and VMIs (none when KubeVirt's API is not served).
func liveVMs(ctx context.Context, rc *reconciler.Cluster, l *Live) error {
	if _, ok := rc.Mapping(schema.GroupVersionKind{Group: "kubevirt.io", Version: "v1", Kind: "VirtualMachine"}); !ok {
		return nil
	}
	vms := &unstructured.UnstructuredList{}
	vms.SetGroupVersionKind(vmGVK)
	if err := rc.Client.List(ctx, vms); err != nil {
		return fmt.Errorf("listing VirtualMachines: %w", err)
	}
	for _, u := range vms.Items {
		v := &LiveVM{Namespace: u.GetNamespace(), Name: u.GetName()}
		v.PrintableStatus, _, _ = unstructured.NestedString(u.Object, "status", "printableStatus")
		v.Ready, _, _ = unstructured.NestedBool(u.Object, "status", "ready")
		l.VMs[v.Namespace+"/"+v.Name] = v
	}
	vmis := &unstructured.UnstructuredList{}
	vmis.SetGroupVersionKind(vmiGVK)
	if err := rc.Client.List(ctx, vmis); err != nil {
		return fmt.Errorf("listing VirtualMachineInstances: %w", err)
	}
	for _, u := range vmis.Items {
		v := l.VMs[u.GetNamespace()+"/"+u.GetName()]
		if v == nil {
			continue
		}
		v.Node, _, _ = unstructured.NestedString(u.Object, "status", "nodeName")
		ifs, _, _ := unstructured.NestedSlice(u.Object, "status", "interfaces")
		for _, i := range ifs {
			m, _ := i.(map[string]any)
			li := LiveInterface{}
			li.Name, _ = m["name"].(string)
			li.MAC, _ = m["mac"].(string)
			li.IP, _ = m["ipAddress"].(string)
			v.Interfaces = append(v.Interfaces, li)
		}
	}
	return nil
}
