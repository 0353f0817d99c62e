package vmocue

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestModuleFileMatchesTheModule: the constants are the module's own declaration.
func TestModuleFileMatchesTheModule(t *testing.T) {
	data, err := Module.ReadFile("cue.mod/module.cue")
	require.NoError(t, err)
	assert.Contains(t, string(data), ModuleFile(ModulePath+"@v0"))
}
