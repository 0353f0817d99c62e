package agent

import (
	"sort"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/vmo-cue/vmo-cue/reconciler"
	"github.com/vmo-cue/vmo-cue/reconciler/inventory"
)

// refAnnotation holds, in the informers' cache only, the FieldsRef of vmo-cue's managedFields entry:
// the cache keeps no field sets at all (names, UID, managers and their times only).
const refAnnotation = "agent.vmo-cue.dev/fields-ref"

// watcher watches the objects vmo-cue applied: one metadata-only informer per applied kind, listing
// and watching only objects with this fleet's and cluster's ownership labels. An event on an object
// whose vmo-cue field set is not the one the inventory recorded (another manager took or removed a
// field) or that was deleted is sent to kick, named.
type watcher struct {
	factory metadatainformer.SharedInformerFactory
	stop    chan struct{}
	kick    func(key string)

	mu       sync.Mutex
	kinds    map[schema.GroupVersionResource]schema.GroupKind
	informer map[schema.GroupKind]cache.SharedIndexInformer
	recorded map[string]inventory.Entry
}

func newWatcher(cfg *rest.Config, fleet, cluster string, kick func(key string)) (*watcher, error) {
	mc, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	sel := labels.Set{inventory.LabelFleet: fleet, inventory.LabelCluster: cluster}.String()
	f := metadatainformer.NewFilteredSharedInformerFactory(mc, 0, metav1.NamespaceAll, func(o *metav1.ListOptions) { o.LabelSelector = sel })
	return &watcher{factory: f, stop: make(chan struct{}), kick: kick, kinds: map[schema.GroupVersionResource]schema.GroupKind{},
		informer: map[schema.GroupKind]cache.SharedIndexInformer{}, recorded: map[string]inventory.Entry{}}, nil
}

// record replaces what the inventory says was applied (after each reconcile).
func (w *watcher) record(inv *inventory.Inventory) {
	idx := map[string]inventory.Entry{}
	if inv != nil {
		idx = inv.Index()
	}
	w.mu.Lock()
	w.recorded = idx
	w.mu.Unlock()
}

// watch starts informers for kinds not watched yet and waits until their caches are filled.
func (w *watcher) watch(gvrs map[schema.GroupVersionResource]schema.GroupKind) {
	var started []cache.SharedIndexInformer
	w.mu.Lock()
	for gvr, gk := range gvrs {
		if _, ok := w.informer[gk]; ok {
			continue
		}
		inf := w.factory.ForResource(gvr).Informer()
		_ = inf.SetTransform(slim)
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { w.changed(gk, o) },
			UpdateFunc: func(_, o any) { w.changed(gk, o) },
			DeleteFunc: func(o any) { w.deleted(gk, o) },
		})
		w.kinds[gvr], w.informer[gk] = gk, inf
		started = append(started, inf)
	}
	w.mu.Unlock()
	if len(started) == 0 {
		return
	}
	w.factory.Start(w.stop)
	syncs := make([]cache.InformerSynced, len(started))
	for i, inf := range started {
		syncs[i] = inf.HasSynced
	}
	cache.WaitForCacheSync(w.stop, syncs...)
}

// close stops every informer.
func (w *watcher) close() {
	close(w.stop)
	w.factory.Shutdown()
}

func keyOf(gk schema.GroupKind, m metav1.Object) string {
	return inventory.ID{Group: gk.Group, Kind: gk.Kind, Namespace: m.GetNamespace(), Name: m.GetName()}.Key()
}

func (w *watcher) changed(gk schema.GroupKind, o any) {
	m, ok := o.(*metav1.PartialObjectMetadata)
	if !ok {
		return
	}
	k := keyOf(gk, m)
	w.mu.Lock()
	e, known := w.recorded[k]
	w.mu.Unlock()
	if known && e.FieldsRef != "" && (m.Annotations[refAnnotation] != e.FieldsRef || e.UID != "" && string(m.UID) != e.UID) {
		w.kick(k)
	}
}

func (w *watcher) deleted(gk schema.GroupKind, o any) {
	if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = t.Obj
	}
	m, ok := o.(*metav1.PartialObjectMetadata)
	if !ok {
		return
	}
	k := keyOf(gk, m)
	w.mu.Lock()
	_, known := w.recorded[k]
	w.mu.Unlock()
	if known {
		w.kick(k)
	}
}

// drifted reports whether the object under key (as the cache has it now) differs from what the
// inventory recorded: absent, another UID, or another vmo-cue field set.
func (w *watcher) drifted(key string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, known := w.recorded[key]
	if !known || e.FieldsRef == "" {
		return false
	}
	inf := w.informer[schema.GroupKind{Group: e.Group, Kind: e.Kind}]
	if inf == nil {
		return true
	}
	ck := e.Name
	if e.Namespace != "" {
		ck = e.Namespace + "/" + e.Name
	}
	o, exists, err := inf.GetStore().GetByKey(ck)
	if err != nil || !exists {
		return true
	}
	m := o.(*metav1.PartialObjectMetadata)
	return m.Annotations[refAnnotation] != e.FieldsRef || e.UID != "" && string(m.UID) != e.UID
}

// otherManagers names the managers other than vmo-cue (status writers aside) that wrote the object at
// or after vmo-cue's last apply.
func otherManagers(managed []metav1.ManagedFieldsEntry) string {
	var ours *metav1.Time
	for _, m := range managed {
		if m.Manager == reconciler.FieldManager && m.Operation == metav1.ManagedFieldsOperationApply {
			ours = m.Time
		}
	}
	var names []string
	for _, m := range managed {
		if m.Manager == reconciler.FieldManager || m.Subresource == "status" {
			continue
		}
		if ours == nil || m.Time == nil || !m.Time.Before(ours) {
			names = append(names, m.Manager)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// slim is the informers' transform: what the cache keeps of an object is its name, UID, version, the
// managers (without their field sets) and the FieldsRef of vmo-cue's own entry.
func slim(o any) (any, error) {
	m, ok := o.(*metav1.PartialObjectMetadata)
	if !ok {
		return o, nil
	}
	if _, done := m.Annotations[refAnnotation]; done && len(m.Annotations) == 1 {
		return m, nil // slimmed already: the informer may transform an object more than once
	}
	out := &metav1.PartialObjectMetadata{TypeMeta: m.TypeMeta}
	out.Name, out.Namespace, out.UID, out.ResourceVersion = m.Name, m.Namespace, m.UID, m.ResourceVersion
	out.Annotations = map[string]string{refAnnotation: reconciler.FieldsRef(m.ManagedFields)}
	out.ManagedFields = make([]metav1.ManagedFieldsEntry, len(m.ManagedFields))
	for i, e := range m.ManagedFields {
		out.ManagedFields[i] = metav1.ManagedFieldsEntry{Manager: e.Manager, Operation: e.Operation, Time: e.Time, Subresource: e.Subresource}
	}
	return out, nil
}

// debounce collects kicked keys and hands them out in batches: a batch is ready once no key came for
// quiet, or maxWait after its first key.
type debounce struct {
	mu    sync.Mutex
	keys  map[string]bool
	ready chan struct{}
}

func newDebounce() *debounce {
	return &debounce{keys: map[string]bool{}, ready: make(chan struct{}, 1)}
}

func (d *debounce) add(key string) {
	d.mu.Lock()
	d.keys[key] = true
	d.mu.Unlock()
	select {
	case d.ready <- struct{}{}:
	default:
	}
}

// take waits quiet (collecting more keys) and returns the batch.
func (d *debounce) take(quiet time.Duration) []string {
	time.Sleep(quiet)
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.keys))
	for k := range d.keys {
		out = append(out, k)
	}
	d.keys = map[string]bool{}
	sort.Strings(out)
	return out
}
