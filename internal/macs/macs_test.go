package macs

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// prefixes is a policy of these prefixes.
func prefixes(t *testing.T, list ...string) Policy {
	t.Helper()
	var p Policy
	for _, s := range list {
		pre, err := ParsePrefix(s)
		require.NoError(t, err)
		p.Prefixes = append(p.Prefixes, pre)
	}
	return p
}

func TestCheck(t *testing.T) {
	def := prefixes(t, "02", "06", "0A", "0E")
	anyLocal := Policy{LocallyAdministered: true}
	tests := []struct {
		name   string
		policy Policy
		mac    string
		rule   string
	}{
		{"allowed 02 prefix", def, "02:11:22:33:44:55", ""},
		{"allowed 0E upper-case dashes", def, "0E-AA-BB-CC-DD-EE", ""},
		{"outside prefixes", def, "12:11:22:33:44:55", "mac-prefix"},
		{"vendor address", def, "00:50:56:00:00:01", "mac-prefix"},
		{"multicast", def, "01:00:5e:00:00:01", "mac-multicast"},
		{"broadcast", def, "ff:ff:ff:ff:ff:ff", "mac-broadcast"},
		{"all zero", def, "00:00:00:00:00:00", "mac-zero"},
		{"reserved by KubeVirt", def, "02:00:00:00:00:00", "mac-reserved"},
		{"too short", def, "02:11:22:33:44", "mac-format"},
		{"not hex", def, "02:11:22:33:44:zz", "mac-format"},
		{"mixed separators", def, "02:11-22:33:44:55", "mac-format"},
		{"any local allows 12", anyLocal, "12:11:22:33:44:55", ""},
		{"any local still refuses vendor", anyLocal, "00:50:56:00:00:01", "mac-prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.policy.Check(tt.mac)
			if tt.rule == "" {
				assert.Empty(t, v)
				return
			}
			require.Len(t, v, 1)
			assert.Equal(t, tt.rule, v[0].Rule)
			assert.Contains(t, v[0].Message, tt.mac)
		})
	}
}

func TestNormalisedComparison(t *testing.T) {
	a, err := Parse("0A:BB:CC:DD:EE:FF")
	require.NoError(t, err)
	b, err := Parse("0a-bb-cc-dd-ee-ff")
	require.NoError(t, err)
	assert.Equal(t, a, b)
	assert.Equal(t, "0a:bb:cc:dd:ee:ff", a.String())
}

func TestAssignIsDeterministicAndInsidePolicy(t *testing.T) {
	p := prefixes(t, "02", "06", "0A", "0E")
	m1, err := p.Assign("edge-1/default/web/nic1", nil)
	require.NoError(t, err)
	m2, err := p.Assign("edge-1/default/web/nic1", nil)
	require.NoError(t, err)
	assert.Equal(t, m1, m2)
	assert.Empty(t, p.Check(m1.String()))
	other, err := p.Assign("edge-1/default/web/nic2", nil)
	require.NoError(t, err)
	assert.NotEqual(t, m1, other)

	// A clash moves to the next candidate, and stays inside the policy.
	m3, err := p.Assign("edge-1/default/web/nic1", func(m MAC) bool { return m == m1 })
	require.NoError(t, err)
	assert.NotEqual(t, m1, m3)
	assert.Empty(t, p.Check(m3.String()))

	narrow := Policy{Prefixes: []Prefix{{0x0a, 0x1b}}}
	m4, err := narrow.Assign("x", nil)
	require.NoError(t, err)
	assert.Equal(t, byte(0x0a), m4[0])
	assert.Equal(t, byte(0x1b), m4[1])
}

func TestParsePrefix(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "0a-1b", want: "0A:1B"},
		{in: "02", want: "02"},
		{in: "06:11:22:33:44", want: "06:11:22:33:44"},
		{in: "03", err: `MAC prefix "03": the first octet must be locally administered unicast (second hex digit 2, 6, A or E)`},
		{in: "", err: `MAC prefix "": want one to five hex octets`},
		{in: "06:11:22:33:44:55", err: `MAC prefix "06:11:22:33:44:55": want one to five hex octets`},
		{in: "0A:", err: `MAC prefix "0A:": "" is not a hex octet`},
		{in: ":0A", err: `MAC prefix ":0A": "" is not a hex octet`},
		{in: "0A::1B", err: `MAC prefix "0A::1B": "" is not a hex octet`},
		{in: "zz", err: `MAC prefix "zz": "zz" is not a hex octet`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			p, err := ParsePrefix(tc.in)
			if tc.err != "" {
				assert.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, p.String())
		})
	}
}
