package diag

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPlural(t *testing.T) {
	for _, tc := range []struct {
		n    int
		noun string
		want string
	}{
		{0, "error", "0 errors"},
		{1, "error", "1 error"},
		{2, "error", "2 errors"},
		{1, "VM", "1 VM"},
		{18, "VM", "18 VMs"},
		{1, "cluster", "1 cluster"},
	} {
		assert.Equal(t, tc.want, Plural(tc.n, tc.noun))
	}
	for _, tc := range []struct {
		k, n int
		want string
	}{
		{1, 1, "1 of 1 cluster"},
		{0, 1, "0 of 1 cluster"},
		{1, 2, "1 of 2 clusters"},
		{0, 0, "0 of 0 clusters"},
	} {
		assert.Equal(t, tc.want, OfPlural(tc.k, tc.n, "cluster"))
	}
}
