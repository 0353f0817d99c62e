package settings

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// VLAN is an entry of allowedVlans (#VLANID | #VLANRange): a VLAN ID, or a range "first-last" as
// written (Range set).
type VLAN struct {
	ID    int64
	Range string
}

// MarshalJSON writes the entry as written: a number or the range's string (the render templates
// and CUE take it so).
func (v VLAN) MarshalJSON() ([]byte, error) {
	if v.Range != "" {
		return json.Marshal(v.Range)
	}
	return json.Marshal(v.ID)
}

// UnmarshalJSON reads a number or a string.
func (v *VLAN) UnmarshalJSON(data []byte) error {
	var x any
	if err := json.Unmarshal(data, &x); err != nil {
		return err
	}
	if !v.decodeAny(x) {
		return fmt.Errorf("VLAN %s: want a number or a range \"first-last\"", data)
	}
	return nil
}

// decodeAny reads a number or a string.
func (v *VLAN) decodeAny(x any) bool {
	if s, ok := x.(string); ok {
		*v = VLAN{Range: s}
		return true
	}
	n, ok := number(x)
	if ok {
		*v = VLAN{ID: int64(n)}
	}
	return ok
}

// Bounds returns the first and last VLAN of the entry; ok is false for a range that does not parse.
func (v VLAN) Bounds() (lo, hi int, ok bool) {
	if v.Range == "" {
		return int(v.ID), int(v.ID), true
	}
	a, b, cut := strings.Cut(v.Range, "-")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	return lo, hi, cut && err1 == nil && err2 == nil
}

// DefaultBridge is the bridge a Multus bridge network without `bridge` uses (cue/multus.cue).
const DefaultBridge = "br0"

// BridgeVLAN is the network's bridge and VLAN when it is a bridge CNI network with a VLAN (ok false
// for another kind: SR-IOV, macvlan, ... are not on the bridge).
func (n Network) BridgeVLAN() (bridge string, vlan int, ok bool) {
	if n.Kind() != "bridge" || n.VLAN == nil {
		return "", 0, false
	}
	bridge = n.Bridge
	if bridge == "" {
		bridge = DefaultBridge
	}
	return bridge, int(*n.VLAN), true
}
