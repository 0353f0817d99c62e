// Package macs parses, checks and assigns VM MAC addresses: normalised comparison (case, ':' or '-'),
// the MAC policy's rules, and deterministic assignment inside the allowed prefixes.
package macs

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
)

// MAC is a 48-bit MAC address.
type MAC [6]byte

// Parse reads "02:aa:bb:cc:dd:ee" or "02-AA-BB-CC-DD-EE" (the separators KubeVirt accepts).
func Parse(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 {
		return m, fmt.Errorf("malformed MAC %q: want six hex octets separated by ':' or '-'", s)
	}
	sep := s[2]
	if sep != ':' && sep != '-' {
		return m, fmt.Errorf("malformed MAC %q: want six hex octets separated by ':' or '-'", s)
	}
	for i := 0; i < 6; i++ {
		if i > 0 && s[3*i-1] != sep {
			return m, fmt.Errorf("malformed MAC %q: mixes separators or misplaces one", s)
		}
		hi, ok1 := hexVal(s[3*i])
		lo, ok2 := hexVal(s[3*i+1])
		if !ok1 || !ok2 {
			return m, fmt.Errorf("malformed MAC %q: %q is not a hex octet", s, s[3*i:3*i+2])
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// String is the normalised form: lower case, ':'-separated.
func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// Reserved is the MAC KubeVirt keeps for the in-pod bridge of masquerade interfaces.
var Reserved = MAC{0x02}

// Multicast reports whether bit 0 of the first octet is set (broadcast included).
func (m MAC) Multicast() bool { return m[0]&1 == 1 }

// LocallyAdministered reports whether bit 1 of the first octet is set.
func (m MAC) LocallyAdministered() bool { return m[0]&2 == 2 }

// Policy is the resolved MAC policy of a cluster.
type Policy struct {
	// LocallyAdministered allows any locally administered unicast MAC, ignoring Prefixes.
	LocallyAdministered bool
	Prefixes            []Prefix
}

// The default policy is policies.DefaultMACPolicy in the CUE module (first octet 02, 06, 0A or 0E, as
// the VMO pack assigns them); validate reads it from there, and this package keeps no copy.

// Prefix is one to five leading octets.
type Prefix []byte

// ParsePrefix reads "02" or "0a:1b" (':' or '-').
func ParsePrefix(s string) (Prefix, error) {
	parts := strings.Split(strings.ReplaceAll(s, "-", ":"), ":")
	if s == "" || len(parts) > 5 {
		return nil, fmt.Errorf("MAC prefix %q: want one to five hex octets", s)
	}
	p := make(Prefix, len(parts))
	for i, part := range parts {
		if len(part) != 2 {
			return nil, fmt.Errorf("MAC prefix %q: %q is not a hex octet", s, part)
		}
		hi, ok1 := hexVal(part[0])
		lo, ok2 := hexVal(part[1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("MAC prefix %q: %q is not a hex octet", s, part)
		}
		p[i] = hi<<4 | lo
	}
	if p[0]&1 == 1 || p[0]&2 == 0 {
		return nil, fmt.Errorf("MAC prefix %q: the first octet must be locally administered unicast (second hex digit 2, 6, A or E)", s)
	}
	return p, nil
}

func (p Prefix) String() string {
	parts := make([]string, len(p))
	for i, b := range p {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

func (p Prefix) matches(m MAC) bool {
	for i, b := range p {
		if m[i] != b {
			return false
		}
	}
	return true
}

// Violation is why a MAC is refused; Rule names the policy rule.
type Violation struct {
	Rule    string
	Message string
}

// Check returns the violations of one MAC string against the policy, in the order a person would
// fix them; an empty result means the MAC is allowed.
func (p Policy) Check(s string) []Violation {
	m, err := Parse(s)
	if err != nil {
		return []Violation{{Rule: "mac-format", Message: err.Error()}}
	}
	switch {
	case m == MAC{}:
		return []Violation{{Rule: "mac-zero", Message: fmt.Sprintf("MAC %s is all zeros", s)}}
	case m == MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}:
		return []Violation{{Rule: "mac-broadcast", Message: fmt.Sprintf("MAC %s is the broadcast address", s)}}
	case m.Multicast():
		return []Violation{{Rule: "mac-multicast", Message: fmt.Sprintf("MAC %s is multicast (bit 0 of the first octet is set)", s)}}
	case m == Reserved:
		return []Violation{{Rule: "mac-reserved", Message: fmt.Sprintf("MAC %s is reserved by KubeVirt for the in-pod bridge", s)}}
	case !m.LocallyAdministered():
		return []Violation{{Rule: "mac-prefix", Message: fmt.Sprintf("MAC %s is not locally administered (a vendor's address)", s)}}
	}
	if p.LocallyAdministered {
		return nil
	}
	for _, pre := range p.Prefixes {
		if pre.matches(m) {
			return nil
		}
	}
	return []Violation{{Rule: "mac-prefix", Message: fmt.Sprintf("MAC %s is outside the allowed prefixes %s", s, p.prefixList())}}
}

func (p Policy) prefixList() string {
	parts := make([]string, len(p.Prefixes))
	for i, pre := range p.Prefixes {
		parts[i] = pre.String()
	}
	return strings.Join(parts, ", ")
}

// Assign derives a MAC for an interface from its identity (cluster, namespace, VM, interface): the same
// on every run and machine. taken reports MACs already in use; on a clash the next candidate of the
// same identity is tried, so the result depends only on the identity and the MACs in use.
func (p Policy) Assign(identity string, taken func(MAC) bool) (MAC, error) {
	for attempt := uint32(0); attempt < 1024; attempt++ {
		h := sha256.Sum256([]byte(fmt.Sprintf("vmo-cue/mac/v1\x00%s\x00%d", identity, attempt)))
		var m MAC
		copy(m[:], h[:6])
		if p.LocallyAdministered || len(p.Prefixes) == 0 {
			m[0] = m[0]&0xfc | 0x02
		} else {
			pre := p.Prefixes[binary.BigEndian.Uint32(h[6:10])%uint32(len(p.Prefixes))]
			copy(m[:], pre)
		}
		if m == Reserved || m == (MAC{0x02, 0, 0, 0, 0, 0}) || len(p.Check(m.String())) > 0 {
			continue
		}
		if taken != nil && taken(m) {
			continue
		}
		return m, nil
	}
	return MAC{}, fmt.Errorf("no free MAC for %s after 1024 attempts: the allowed prefixes are nearly full", identity)
}
