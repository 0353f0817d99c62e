//go:build unix

package fleetfs

import "syscall"

// Flags files and folders are opened with: never through a symlink, never waiting (a FIFO would
// wait for a writer), and a folder only as a folder.
const (
	fileFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK
	dirFlags  = syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_DIRECTORY
)
