package validate_test

import (
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/internal/macs"
)

// policiesValue evaluates the embedded policies package.
func policiesValue(t *testing.T) cue.Value {
	t.Helper()
	inst, err := engine.LoadEmbedded("./policies")
	require.NoError(t, err)
	v := cuecontext.New().BuildInstance(inst)
	require.NoError(t, v.Err())
	return v
}

func accepts(def cue.Value, s string) bool {
	return def.Unify(cuecontext.New().Encode(s)).Validate(cue.Concrete(true)) == nil
}

// TestMACRuleAgreesWithPolicy: policies.#MAC (what CUE checks on a VM's macAddress) and macs.Check
// (what vet reports, with its own rule names) accept the same MACs, and policies.#MACPrefix and
// macs.ParsePrefix the same prefix forms (whether the first octet is locally administered unicast is
// ParsePrefix's alone).
func TestMACRuleAgreesWithPolicy(t *testing.T) {
	v := policiesValue(t)
	mac := v.LookupPath(cue.ParsePath("#MAC"))
	require.True(t, mac.Exists())
	anyLocal := macs.Policy{LocallyAdministered: true}
	for _, s := range []string{
		"02:11:22:33:44:55", "0e-aa-bb-cc-dd-ee", "0A:bb:CC:dd:EE:ff", "fe:11:22:33:44:55",
		"02:00:00:00:00:00", "02-00-00-00-00-00", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff",
		"01:00:5e:00:00:01", "00:50:56:00:00:01", "02:11:22:33:44", "02:11:22:33:44:zz",
		"02:11-22:33:44:55", "02-11-22-33-44:55", "02:11:22:33:44:55:66", "0211.2233.4455", "",
	} {
		assert.Equal(t, len(anyLocal.Check(s)) == 0, accepts(mac, s), "%q: macs.Check says %v", s, anyLocal.Check(s))
	}

	prefix := v.LookupPath(cue.ParsePath("#MACPrefix"))
	require.True(t, prefix.Exists())
	for _, s := range []string{
		"02", "0A:1B", "0e-1b-2c", "06:11:22:33:44", "06:11:22:33:44:55", "01", "00", "12", "0A:1B-2C",
		"2", "0A:", ":0A", "zz", "",
	} {
		// The first octet's meaning is Go's alone (its message names the rule): CUE checks the form.
		_, err := macs.ParsePrefix(s)
		formOK := err == nil || strings.Contains(err.Error(), "the first octet must be locally administered unicast")
		assert.Equal(t, formOK, accepts(prefix, s), "%q: macs.ParsePrefix says %v", s, err)
	}
}

// TestDefaultMACPolicyIsTheSettingsDefault: the MAC policy of a cluster that sets none comes from
// policies.DefaultMACPolicy, through schemas.SettingsDefaults (validate keeps no copy).
func TestDefaultMACPolicyIsTheSettingsDefault(t *testing.T) {
	b, err := engine.LoadBuiltin()
	require.NoError(t, err)
	var want map[string]any
	require.NoError(t, policiesValue(t).LookupPath(cue.ParsePath("DefaultMACPolicy")).Decode(&want))
	policy, _ := b.SettingsDefaults["policy"].(map[string]any)
	assert.Equal(t, want, policy["mac"])
}
