package inventory

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// IdentityName is the ConfigMap (in Namespace) that records which fleet and cluster an API server
// belongs to. The first apply writes it; an apply of another fleet or cluster is refused unless it
// adopts the API server, which rewrites it. It is kept apart from the inventory, so that an inventory
// deleted or unreadable does not make an API server anyone's.
const IdentityName = "vmo-cue-identity"

// Identity is the owner of an API server.
type Identity struct {
	Fleet, Cluster string
	// Since is when this owner was recorded (its first apply, or its adoption).
	Since time.Time
}

func (id Identity) String() string { return "fleet " + id.Fleet + " cluster " + id.Cluster }

// ReadIdentity returns the recorded owner; nil if none is recorded. An identity without a fleet or a
// cluster is returned as it is: it matches nobody.
func ReadIdentity(ctx context.Context, c client.Client) (*Identity, error) {
	var cm corev1.ConfigMap
	err := c.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: IdentityName}, &cm)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the cluster identity %s/%s: %w", Namespace, IdentityName, err)
	}
	return identityOf(&cm), nil
}

// identityOf reads the identity out of its ConfigMap (a missing or bad time is zero).
func identityOf(cm *corev1.ConfigMap) *Identity {
	id := &Identity{Fleet: cm.Data["fleet"], Cluster: cm.Data["cluster"]}
	id.Since, _ = time.Parse(time.RFC3339, cm.Data["since"])
	return id
}

// WriteIdentity records the owner of the API server (creating the namespace if needed).
func WriteIdentity(ctx context.Context, c client.Client, id Identity, fieldOwner string) error {
	if err := writeNamespace(ctx, c, fieldOwner); err != nil {
		return err
	}
	if err := ApplyObject(ctx, c, identityConfigMap(id), fieldOwner); err != nil {
		return fmt.Errorf("writing the cluster identity %s/%s: %w", Namespace, IdentityName, err)
	}
	return nil
}

// identityConfigMap is the ConfigMap that records the identity.
func identityConfigMap(id Identity) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: IdentityName, Namespace: Namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "vmo-cue", LabelFleet: id.Fleet, LabelCluster: id.Cluster}},
		Data: map[string]string{"fleet": id.Fleet, "cluster": id.Cluster, "since": id.Since.UTC().Format(time.RFC3339)},
	}
}
