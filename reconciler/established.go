package reconciler

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var gkCRD = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}

// establishedPoll spaces the reads of a CRD that is not Established yet: 10 ms at first (a new CRD is
// usually Established within tens of milliseconds, and a first apply waits for it before anything
// else), doubling to every 100 ms.
var establishedPoll = wait.Backoff{Duration: 10 * time.Millisecond, Factor: 2, Cap: 100 * time.Millisecond, Steps: math.MaxInt32}

// waitEstablished waits until the CRDs among items are Established (kstatus status.Compute: Current),
// then refreshes discovery. The CRDs are waited for one after the other, each read alone (a GET of that CRD), so
// that the large CRDs already Established are not read again. A CRD whose names the server refused
// (kstatus: Failed) fails at once; so does a read that fails other than NotFound: the server
// stopped answering (or refuses the read), and waiting longer tells nothing.
func (c *Cluster) waitEstablished(ctx context.Context, items []*Item, timeout time.Duration) error {
	var crds []string
	for _, it := range items {
		if it.Object.GetKind() == gkCRD.Kind {
			crds = append(crds, it.Object.GetName())
		}
	}
	if len(crds) == 0 {
		return nil // no new kind: discovery stands
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, name := range crds {
		if err := c.waitCurrent(ctx, name); err != nil {
			if parent.Err() != nil {
				return parent.Err()
			}
			if ctx.Err() != nil {
				return fmt.Errorf("CRD %s not Established after %s", name, timeout)
			}
			return err
		}
	}
	return c.Refresh()
}

// waitCurrent reads one CRD (a GET), again after each interval of establishedPoll, until kstatus finds
// it Current; it fails at once on Failed or on a read error other than NotFound, and returns ctx's
// error when ctx ends first.
// kstatus's own poller is not used: it links kubectl's packages, which the agent's binary leaves out.
func (c *Cluster) waitCurrent(ctx context.Context, name string) error {
	poll := establishedPoll
	for {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gkCRD.WithVersion("v1"))
		err := c.client().Get(ctx, client.ObjectKey{Name: name}, u)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			return fmt.Errorf("waiting for CRD %s to be Established: %w", name, err)
		default:
			res, err := status.Compute(u)
			if err != nil {
				return fmt.Errorf("waiting for CRD %s to be Established: %w", name, err)
			}
			switch res.Status {
			case status.CurrentStatus:
				return nil
			case status.FailedStatus:
				return fmt.Errorf("CRD %s not Established: %s", name, res.Message)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll.Step()):
		}
	}
}
