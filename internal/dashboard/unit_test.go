package dashboard_test

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/dashboard"
)

// TestLoopbackOnly: the CLI's dashboard answers a loopback peer asking for a loopback name only.
func TestLoopbackOnly(t *testing.T) {
	tests := []struct {
		name, remote, host, err string
	}{
		{"ipv4", "127.0.0.1:5000", "127.0.0.1:8080", ""},
		{"ipv6", "[::1]:5000", "[::1]:8080", ""},
		{"localhost", "127.0.0.1:5000", "localhost:8080", ""},
		{"a remote peer", "192.0.2.7:5000", "127.0.0.1:8080", "the dashboard serves loopback clients only"},
		{"DNS rebinding", "127.0.0.1:5000", "evil.example.com:8080", `host "evil.example.com" is not a loopback name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr, r.Host = tt.remote, tt.host
			id, err := dashboard.Loopback{}.Authorize(r)
			if tt.err != "" {
				assert.EqualError(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.True(t, id.CanCommit)
		})
	}
}

// TestSearch: a MAC in any spelling or a prefix of it, a VLAN ID, a network name.
func TestSearch(t *testing.T) {
	_, g := simulatedFleet(3, 4)
	tests := []struct {
		q, describe string
		hits        []string
	}{
		{"02:00:00:01:02:01", "with MAC 02:00:00:01:02:01", []string{"edge-0001 vms/vm-02 lan"}},
		{"02-00-00-01-02-01", "with MAC 02:00:00:01:02:01", []string{"edge-0001 vms/vm-02 lan"}},
		{"02:00:00:02", "with MAC 02:00:00:02", []string{"edge-0002 vms/vm-00 lan", "edge-0002 vms/vm-01 lan", "edge-0002 vms/vm-02 lan", "edge-0002 vms/vm-03 lan"}},
		{"vlan 103", "on VLAN 103", []string{"edge-0000 vms/vm-03 lan", "edge-0001 vms/vm-03 lan", "edge-0002 vms/vm-03 lan"}},
		{"103", "on VLAN 103", []string{"edge-0000 vms/vm-03 lan", "edge-0001 vms/vm-03 lan", "edge-0002 vms/vm-03 lan"}},
		{"nowhere", "on a network named like nowhere", nil},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			hits, describe, cut := dashboard.Search(g, tt.q)
			assert.False(t, cut)
			assert.Equal(t, tt.describe, describe)
			var got []string
			for _, h := range hits {
				got = append(got, h.Cluster+" "+h.Namespace+"/"+h.VM+" "+h.Iface.Name)
			}
			assert.Equal(t, tt.hits, got)
		})
	}
}
