package dashboard

import (
	"fmt"
	"os"
)

// readRepoFile reads a file of the fleet repository at dir by its slash-separated relative path,
// through an os.Root: a path or symlink leading out of the repository is refused, as everywhere else
// vmo-cue reads a repository (internal/fleetfs).
func readRepoFile(dir, rel string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening the repository: %w", err)
	}
	defer root.Close()
	return root.ReadFile(rel)
}
