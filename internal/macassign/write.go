package macassign

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vmo-cue/vmo-cue/internal/diag"
)

// Write writes every change or none. Each file must still hold what validation read; each new content
// goes to a temporary file in the file's own folder, and only when all of them are written are they
// renamed over the files. Should a rename fail, the files already replaced get their old content back.
func Write(changes []Change) error {
	for _, c := range changes {
		now, err := os.ReadFile(c.Abs)
		if err != nil {
			return fmt.Errorf("mac assign: %s: %w (nothing written)", diag.Name(c.File), err)
		}
		if !bytes.Equal(now, c.Old) {
			return fmt.Errorf("mac assign: %s changed since it was read (nothing written): run mac assign again", diag.Name(c.File))
		}
	}
	temps := make([]string, 0, len(changes))
	removeTemps := func() {
		for _, t := range temps {
			os.Remove(t)
		}
	}
	for _, c := range changes {
		t, err := writeTemp(c.Abs, c.New)
		if err != nil {
			removeTemps()
			return fmt.Errorf("mac assign: %s: %w (nothing written)", diag.Name(c.File), err)
		}
		temps = append(temps, t)
	}
	for i, c := range changes {
		if err := os.Rename(temps[i], c.Abs); err != nil {
			for _, t := range temps[i:] {
				os.Remove(t)
			}
			return fmt.Errorf("mac assign: %s: %w%s", diag.Name(c.File), err, restore(changes[:i]))
		}
	}
	return nil
}

// restore puts back the old content of files already replaced, and says how that went.
func restore(done []Change) string {
	if len(done) == 0 {
		return " (nothing written)"
	}
	var errs []error
	for _, c := range done {
		t, err := writeTemp(c.Abs, c.Old)
		if err == nil {
			err = os.Rename(t, c.Abs)
		}
		if err != nil {
			os.Remove(t)
			errs = append(errs, fmt.Errorf("%s: %w", c.File, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Sprintf(" (restoring the files written before failed: %v)", err)
	}
	return " (the files written before were restored)"
}

// writeTemp writes data to a new temporary file next to path, with path's permissions.
func writeTemp(path string, data []byte) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".mac-assign-*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(st.Mode().Perm())
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
