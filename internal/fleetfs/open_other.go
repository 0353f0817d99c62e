//go:build !unix

package fleetfs

// Elsewhere the Lstat before each open and the check of what was opened are the guard.
const (
	fileFlags = 0
	dirFlags  = 0
)
