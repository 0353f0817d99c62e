package reconciler

import (
	"context"
	"fmt"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/clusterreader"
	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/engine"
	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/event"
	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/fluxcd/cli-utils/pkg/object"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var gkCRD = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}

// establishedPoll is how often a CRD that is not Established yet is read again.
const establishedPoll = 100 * time.Millisecond

// waitEstablished waits until the CRDs among items are Established (kstatus: Current), then refreshes
// discovery. The CRDs are waited for one after the other, each read alone (a GET of that CRD), so
// that the large CRDs already Established are not read again. A CRD whose names the server refused
// (kstatus: Failed) fails at once; so does a read that fails other than NotFound: the server
// stopped answering (or refuses the read), and waiting longer tells nothing.
func (c *Cluster) waitEstablished(ctx context.Context, items []*Item, timeout time.Duration) error {
	var crds []object.ObjMetadata
	for _, it := range items {
		if it.Object.GetKind() == gkCRD.Kind {
			crds = append(crds, object.ObjMetadata{GroupKind: gkCRD, Name: it.Object.GetName()})
		}
	}
	if len(crds) == 0 {
		return nil // no new kind: discovery stands
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c.mu.Lock()
	mapper := c.mapper
	c.mu.Unlock()
	poller := polling.NewStatusPoller(c.client(), mapper, polling.Options{
		ClusterReaderFactory: engine.ClusterReaderFactoryFunc(clusterreader.NewDirectClusterReader)})
	for _, id := range crds {
		if err := waitCurrent(ctx, poller, id); err != nil {
			if parent.Err() != nil {
				return parent.Err()
			}
			if ctx.Err() != nil {
				return fmt.Errorf("CRD %s not Established after %s", id.Name, timeout)
			}
			return err
		}
	}
	return c.Refresh()
}

// waitCurrent polls one object until kstatus finds it Current; it returns ctx's error when ctx ends
// first.
func waitCurrent(ctx context.Context, poller *polling.StatusPoller, id object.ObjMetadata) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	events := poller.Poll(ctx, object.ObjMetadataSet{id}, polling.PollOptions{PollInterval: establishedPoll})
	var err error
	for e := range events { // the channel is closed once ctx ends
		if err != nil {
			continue // drain it
		}
		switch {
		case e.Type == event.ErrorEvent:
			err = fmt.Errorf("waiting for CRD %s to be Established: %w", id.Name, e.Error)
		case e.Type != event.ResourceUpdateEvent:
		case e.Resource.Error != nil:
			err = fmt.Errorf("waiting for CRD %s to be Established: %w", id.Name, e.Resource.Error)
		case e.Resource.Status == status.FailedStatus:
			err = fmt.Errorf("CRD %s not Established: %s", id.Name, e.Resource.Message)
		case e.Resource.Status == status.CurrentStatus:
			stop()
			return nil
		default:
			continue
		}
		stop()
	}
	if err != nil {
		return err
	}
	return ctx.Err()
}
