package yamldoc

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmo-cue/vmo-cue/internal/diag"
)

func TestDecodePositions(t *testing.T) {
	src := "a: 1\n---\n# second\nkind: VirtualMachine\nspec:\n  list:\n    - name: x\n      mac: \"02:00:00:00:00:01\"\n"
	docs, problems := Decode("vms.yaml", []byte(src))
	require.Empty(t, problems)
	require.Len(t, docs, 2)
	assert.Equal(t, 1, docs[1].Index)
	assert.Equal(t, diag.Position{File: "vms.yaml", Line: 8, Col: 7}, docs[1].KeyPos([]string{"spec", "list", "0", "mac"}))
	assert.Equal(t, diag.Position{File: "vms.yaml", Line: 8, Col: 12}, docs[1].Pos([]string{"spec", "list", "0", "mac"}))
	// A missing path points at its deepest existing parent.
	assert.Equal(t, 7, docs[1].Pos([]string{"spec", "list", "0", "nope"}).Line)
	assert.Equal(t, float64(1), docs[0].Value.(map[string]any)["a"])
}

func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name, src, rule string
		line            int
	}{
		{"syntax error", "a: b\n  c: d\n", "yaml-syntax", 2},
		{"duplicate key", "a: 1\nb: 2\na: 3\n", "yaml-duplicate-key", 3},
		{"merge key", "base: &b {x: 1}\nother:\n  <<: *b\n", "yaml-merge", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, problems := Decode("f.yaml", []byte(tt.src))
			require.Len(t, problems, 1)
			assert.Equal(t, tt.rule, problems[0].Rule)
			assert.Equal(t, tt.line, problems[0].Positions[0].Line)
		})
	}
}

func TestAliasBombIsRefusedAtTheNodeBound(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 12; i++ { // 10^12 values if expanded
		b.WriteString("a" + string(rune('0'+i%10)) + string(rune('a'+i)) + ": &a" + string(rune('a'+i)) + " [")
		prev := "a0"
		if i > 1 {
			prev = "a" + string(rune('a'+i-1))
		}
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*" + prev)
		}
		b.WriteString("]\n")
	}
	_, problems := Decode("bomb.yaml", []byte(b.String()))
	require.Len(t, problems, 1)
	assert.Equal(t, "yaml-size", problems[0].Rule, "refused at MaxNodes values, long before the 10^12 of a full expansion")
	assert.Contains(t, problems[0].Message, "alias bomb")
}
