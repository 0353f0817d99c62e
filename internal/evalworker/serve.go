package evalworker

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/evalworker/wire"
	"github.com/vmo-cue/vmo-cue/internal/validate"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// Serve is the worker: it loads the fleet at dir (within opts' budget) in batches of at most batch
// clusters (0: all at once; see loadBatched; with opts.Only, only those clusters, see loadOnly), writes each valid cluster's desired state to a file of
// out (wire.File), then the header to w, and returns: the worker is gone before the rollout begins.
// Nothing is written to w before the load ends (the budget may re-execute the process until then).
func Serve(w io.Writer, dir, out string, batch int, opts desired.Options) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	send := func(h header) error {
		if err := json.NewEncoder(bw).Encode(h); err != nil {
			return fmt.Errorf("writing to the controller: %w", err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("writing to the controller: %w", err)
		}
		return nil
	}
	// A re-execution (the budget), or a new round of batches, starts over: what was written goes.
	reset := func() error {
		if err := os.RemoveAll(out); err != nil {
			return fmt.Errorf("clearing %s: %w", out, err)
		}
		if err := os.MkdirAll(out, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", out, err)
		}
		return nil
	}
	h, err := loadBatched(dir, opts, batch, reset, func(res *validate.Result) error {
		release(res)
		for i, c := range res.Clusters {
			if c.Declared && c.Valid() && wanted(opts.Only, c.Name) {
				if err := writeRender(out, c); err != nil {
					return err
				}
			}
			// Rendered (its summary was taken before): the cluster's evaluation goes now, not at
			// the end of its batch, so that the batch's heap shrinks as it renders. A layer-2 domain
			// is one batch however large; under the worker's soft memory limit, rendering its
			// clusters beside all of their evaluations kept the collector busy (1,010 generated
			// clusters with domains of 72: 342 s of CPU before, 288 s after).
			dropCluster(res, i)
		}
		return nil
	})
	if err != nil {
		return errors.Join(err, send(header{Error: err.Error()}))
	}
	return send(*h)
}

// wanted reports whether a cluster's desired state is asked for: with only (an agent's own cluster),
// the fleet may have been evaluated whole for a layer-2 domain, but only those are rendered.
func wanted(only []string, name string) bool {
	if len(only) == 0 {
		return true
	}
	for _, o := range only {
		if o == name {
			return true
		}
	}
	return false
}

// writeRender renders a cluster into its file of out (wire.File).
func writeRender(out string, c *validate.Cluster) error {
	a := &wire.Answer{Cluster: c.Name}
	if d, err := desired.Render(c); err != nil {
		a.Error = err.Error()
	} else if a, err = wire.NewAnswer(d); err != nil {
		a = &wire.Answer{Cluster: c.Name, Error: err.Error()}
	}
	return wire.Write(out, a)
}

// release drops what only findings need: the way back from each VM's fields to the lines that
// wrote them (for a YAML VM, its whole parsed document). Rendering never asks for a position.
func release(res *validate.Result) {
	for _, c := range res.Clusters {
		for _, vm := range c.Cluster.SourceVMs {
			vm.Pos = nil
		}
	}
}

// dropCluster lets the collector take the i-th cluster of a batch: the validated cluster and the
// evaluated one it embeds, which the fleet holds too.
func dropCluster(res *validate.Result, i int) {
	ec := res.Clusters[i].Cluster
	res.Clusters[i] = nil
	for j, fc := range res.Fleet.Clusters {
		if fc == ec {
			res.Fleet.Clusters[j] = nil
		}
	}
}

// summaries are the header's clusters of a batch.
func summaries(res *validate.Result) []wire.Cluster {
	out := make([]wire.Cluster, 0, len(res.Clusters))
	for _, c := range res.Clusters {
		out = append(out, fleet.Summary(c))
	}
	return out
}

// freeBatch gives a batch's memory back before the next.
func freeBatch() { debug.FreeOSMemory() }
