package validate

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMinorOf(t *testing.T) {
	for _, tc := range []struct{ version, want string }{
		{"v1.7.0", "v1.7"},
		{"v1.7", "v1.7"},
		{"v1.10.2", "v1.10"},
		{"v1.7.0-rc.1", "v1.7"},
		{"1.7.0", "1.7.0"},   // no "v": no minor of the tables
		{"latest", "latest"}, // not a version
		{"", ""},
	} {
		assert.Equal(t, tc.want, MinorOf(tc.version), tc.version)
	}
}

func TestMinorLess(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"v1.4", "v1.5", true},
		{"v1.9", "v1.10", true},
		{"v1.10", "v1.9", false},
		{"v1.6", "v1.6", false},
		{"v0.59", "v1.0", true},
		{"latest", "v1.4", true}, // unparsable counts as v0.0
	} {
		assert.Equal(t, tc.want, MinorLess(tc.a, tc.b), "%s < %s", tc.a, tc.b)
	}
}
