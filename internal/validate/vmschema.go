package validate

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/vmo-cue/vmo-cue/internal/schema"
	"github.com/vmo-cue/vmo-cue/schemas/crds"
)

type schemaKey struct{ kind, kubevirt, cdi string }

type loaded struct {
	once sync.Once
	s    *schema.Schema
	err  error
}

var schemaCache sync.Map // schemaKey -> *loaded

// VMSchema returns the structural schema of kubevirt.io/v1 VirtualMachine of the Default KubeVirt
// release (crds.Default).
func VMSchema() (*schema.Schema, error) { return SchemaFor("VirtualMachine", crds.Default) }

// SchemaFor returns the structural schema of a kind as the CRD of the cluster's releases has it (the
// CRDs `make generate` read from KubeVirt's and CDI's own releases, embedded in the binary), with the
// object's metadata, and its templates', held to ObjectMeta. Each is decoded once per process.
func SchemaFor(kind string, v crds.Versions) (*schema.Schema, error) {
	kvSet, err := crds.KubeVirtSet(v.KubeVirt)
	if err != nil {
		return nil, err
	}
	key := schemaKey{kind, kvSet, crds.CDISet(v.CDI)}
	l, _ := schemaCache.LoadOrStore(key, &loaded{})
	ld := l.(*loaded)
	ld.once.Do(func() { ld.s, ld.err = loadSchema(kind, v) })
	return ld.s, ld.err
}

func loadSchema(kind string, v crds.Versions) (*schema.Schema, error) {
	raw, err := crds.SchemaJSON(kind, v)
	if err != nil {
		return nil, err
	}
	var s schema.Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("embedded schema of %s: %w", kind, err)
	}
	mdJSON, err := crds.ObjectMetaJSON()
	if err != nil {
		return nil, err
	}
	var md schema.Schema
	if err := json.Unmarshal(mdJSON, &md); err != nil {
		return nil, fmt.Errorf("embedded ObjectMeta schema: %w", err)
	}
	// The CRD leaves the object's metadata to the API server, and a template's is kept as written
	// (x-kubernetes-preserve-unknown-fields): check both as the ObjectMeta they are, as the CUE
	// definition does.
	objectMeta(&s, &md)
	if err := s.Compile(); err != nil {
		return nil, fmt.Errorf("embedded schema of %s: %w", kind, err)
	}
	return &s, nil
}

// objectMeta puts ObjectMeta's schema at every `metadata` of s that says nothing of its fields.
func objectMeta(s, md *schema.Schema) {
	if s == nil {
		return
	}
	for name, p := range s.Properties {
		if name == "metadata" && p.Type == "object" && len(p.Properties) == 0 {
			c := *md
			c.Nullable = p.Nullable
			s.Properties[name] = &c
			continue
		}
		objectMeta(p, md)
	}
	objectMeta(s.Items, md)
	if s.AdditionalProperties != nil {
		objectMeta(s.AdditionalProperties.Schema, md)
	}
}
