package evalworker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/validate"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// Serve is the worker: it loads the fleet at dir (within opts' budget; opts.Only: see load), writes the header to out,
// then answers each request read from in with the cluster's desired state, until in ends. Nothing is
// written before the load ends (the budget may re-execute the process until then).
func Serve(in io.Reader, out io.Writer, dir string, opts desired.Options) error {
	w := bufio.NewWriterSize(out, 64<<10)
	enc := json.NewEncoder(w)
	send := func(v any) error {
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("writing to the controller: %w", err)
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("writing to the controller: %w", err)
		}
		return nil
	}
	res, err := load(dir, opts)
	if err != nil {
		return errors.Join(err, send(header{Error: err.Error()}))
	}
	loaded := fleet.FromResult(res)
	h := header{Fleet: loaded.Fleet, Shared: loaded.Shared, Clusters: loaded.Clusters}
	if loaded.Rollout != nil {
		if h.Rollout, err = json.Marshal(loaded.Rollout); err != nil {
			return errors.Join(err, send(header{Error: fmt.Sprintf("encoding the rollout: %v", err)}))
		}
	}
	if err := send(h); err != nil {
		return err
	}
	// The worker lives on only to render: what served findings goes, and is given back to the system.
	h, loaded.Clusters = header{}, nil
	release(res)
	res = nil
	debug.FreeOSMemory()
	dec := json.NewDecoder(bufio.NewReader(in))
	for {
		var req request
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading a request of the controller: %w", err)
		}
		if err := send(render(loaded, req.Cluster)); err != nil {
			return err
		}
	}
}

// load evaluates and validates the fleet at dir: only opts.Only's clusters if it names some (an
// agent's own), the whole fleet when one of them shares a layer-2 domain (MACs are assigned and
// checked across the domain, which spans clusters).
func load(dir string, opts desired.Options) (*validate.Result, error) {
	res, err := desired.Load(dir, opts)
	if err != nil || len(opts.Only) == 0 {
		return res, err
	}
	for _, name := range opts.Only {
		if c := res.Cluster(name); c != nil && c.L2Domain != "" {
			opts.Only = nil
			return desired.Load(dir, opts)
		}
	}
	return res, nil
}

// release drops what only findings need: the way back from each VM's fields to the lines that
// wrote them (for a YAML VM, its whole parsed document). Rendering never asks for a position.
func release(res *validate.Result) {
	for _, c := range res.Clusters {
		for _, vm := range c.Cluster.VMs {
			vm.Pos = nil
		}
	}
}

// render answers one request.
func render(l *fleet.Loaded, cluster string) answer {
	a := answer{Cluster: cluster}
	if l.Render == nil {
		a.Error = "the revision does not validate: nothing is rendered"
		return a
	}
	d, err := l.Render(context.Background(), cluster)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	a.Fleet, a.DriftIgnore, a.Prune, a.VMs = d.Fleet, d.DriftIgnore, d.Prune, d.VMs
	a.Objects = make([]json.RawMessage, len(d.Objects))
	for i, o := range d.Objects {
		if a.Objects[i], err = json.Marshal(o.Object); err != nil {
			return answer{Cluster: cluster, Error: fmt.Sprintf("encoding %s %s: %v", o.GetKind(), o.GetName(), err)}
		}
	}
	return a
}
