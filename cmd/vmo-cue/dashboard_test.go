package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestDashboardListensOnLoopbackOnly: the CLI's dashboard reads with the user's kubeconfig and has
// no sign-in: an address other than loopback is refused before anything is read.
func TestDashboardListensOnLoopbackOnly(t *testing.T) {
	tests := []struct{ listen, err string }{
		{"0.0.0.0:8080", "--listen 0.0.0.0:8080: the CLI's dashboard serves on a loopback address only (127.0.0.1, ::1); the controller's serves others behind TokenReview\n"},
		{":8080", "--listen :8080: the CLI's dashboard serves on a loopback address only (127.0.0.1, ::1); the controller's serves others behind TokenReview\n"},
		{"192.0.2.1:80", "--listen 192.0.2.1:80: the CLI's dashboard serves on a loopback address only (127.0.0.1, ::1); the controller's serves others behind TokenReview\n"},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{"dashboard", "--listen", tt.listen}, &stdout, &stderr)
			assert.Equal(t, 2, code)
			assert.Equal(t, "vmo-cue: "+tt.err, stderr.String())
			assert.Empty(t, stdout.String())
		})
	}
}
