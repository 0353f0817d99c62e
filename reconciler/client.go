package reconciler

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Cluster is a connection to one cluster: a client whose REST mapper comes from one aggregated
// discovery (two requests) and is refreshed when a kind appears, and a count of requests made.
type Cluster struct {
	Client     client.Client
	config     *rest.Config
	httpClient *http.Client
	mu         sync.Mutex
	mapper     meta.RESTMapper
	// mappings caches the mapper's answers (nil: not served) until the next refresh: a first apply
	// resolves the kind of each of its objects several times, and the discovery mapper's lookup
	// was a tenth of the client's CPU.
	mappings map[schema.GroupVersionKind]*meta.RESTMapping
	meta     metadata.Interface
	dyn      dynamic.Interface
	requests atomic.Int64
}

// Connect prepares a connection and discovers the API (two requests).
func Connect(cfg *rest.Config) (*Cluster, error) { return ConnectWithin(cfg, 0) }

// ConnectWithin is Connect with the first discovery bounded by probe (if not 0): a cluster that
// accepts connections but does not answer is found out within probe, while later requests keep the
// configuration's own timeout.
func ConnectWithin(cfg *rest.Config, probe time.Duration) (*Cluster, error) {
	c := &Cluster{config: rest.CopyConfig(cfg)}
	if c.config.QPS == 0 {
		// Options.Concurrency bounds the requests in flight, and the API server's priority and
		// fairness protects it: the client's own rate limit must not be what bounds a sync. At 100
		// QPS, the two requests per object of a first apply of 1,000 objects (a dry-run, then the
		// apply) took at least 17 s whatever the server's speed.
		c.config.QPS, c.config.Burst = 1000, 2000
	}
	prev := c.config.WrapTransport
	c.config.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if prev != nil {
			rt = prev(rt)
		}
		return countingTransport{rt: rt, n: &c.requests}
	}
	// One HTTP client (one connection) for discovery, the typed client and the writes.
	hc, err := rest.HTTPClientFor(c.config)
	if err != nil {
		return nil, fmt.Errorf("HTTP client: %w", err)
	}
	c.httpClient = hc
	if c.meta, err = metadata.NewForConfigAndClient(c.config, hc); err != nil {
		return nil, fmt.Errorf("metadata client: %w", err)
	}
	if c.dyn, err = dynamic.NewForConfigAndClient(c.config, hc); err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	if err := c.refresh(probe); err != nil {
		return nil, err
	}
	return c, nil
}

// Requests returns the number of API requests made so far.
func (c *Cluster) Requests() int64 { return c.requests.Load() }

// Refresh rediscovers the API's kinds (after CRDs were created).
func (c *Cluster) Refresh() error { return c.refresh(0) }

func (c *Cluster) refresh(timeout time.Duration) error {
	hc := c.httpClient
	if timeout > 0 {
		hc = &http.Client{Transport: hc.Transport, Timeout: timeout}
	}
	dc, err := discovery.NewDiscoveryClientForConfigAndClient(c.config, hc)
	if err != nil {
		return fmt.Errorf("discovery client: %w", err)
	}
	groups, err := restmapper.GetAPIGroupResources(dc)
	if err != nil {
		return fmt.Errorf("discovering the API: %w", err)
	}
	m := restmapper.NewDiscoveryRESTMapper(groups)
	cl, err := client.New(c.config, client.Options{Mapper: m, HTTPClient: c.httpClient})
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	c.mu.Lock()
	c.mapper, c.Client, c.mappings = m, cl, map[schema.GroupVersionKind]*meta.RESTMapping{}
	c.mu.Unlock()
	return nil
}

// Mapping resolves a kind; ok is false if the cluster does not serve it (yet).
func (c *Cluster) Mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, bool) {
	c.mu.Lock()
	m, cache := c.mapper, c.mappings
	mapping, known := cache[gvk]
	c.mu.Unlock()
	if known {
		return mapping, mapping != nil
	}
	mapping, err := m.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		mapping = nil
	}
	c.mu.Lock()
	if c.mapper == m { // not refreshed meanwhile
		c.mappings[gvk] = mapping
	}
	c.mu.Unlock()
	return mapping, mapping != nil
}

// metadata and dynamic return the clients of the writes (request.go).
func (c *Cluster) metadata() metadata.Interface { return c.meta }
func (c *Cluster) dynamic() dynamic.Interface   { return c.dyn }

// CurrentClient is the cluster's client as it stands (Client is replaced, under a lock, when the API's
// kinds change).
func (c *Cluster) CurrentClient() client.Client { return c.client() }

func (c *Cluster) client() client.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Client
}

type countingTransport struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.rt.RoundTrip(r)
}

// WrappedRoundTripper lets client-go reach the transport beneath to cancel a request (without it,
// every request ended by a timeout logs "unable to cancel request").
func (t countingTransport) WrappedRoundTripper() http.RoundTripper { return t.rt }

var _ utilnet.RoundTripperWrapper = countingTransport{}

// RESTConfig loads a kubeconfig context: the file kubeconfig, else $KUBECONFIG's files, else
// ~/.kube/config. Errors name the file(s) and the context, never what they hold.
func RESTConfig(kubeconfig, context string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	files := strings.Join(rules.GetLoadingPrecedence(), string(filepath.ListSeparator))
	if kubeconfig != "" {
		rules.ExplicitPath, files = kubeconfig, kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s, context %q: %w", files, context, err)
	}
	return cfg, nil
}
