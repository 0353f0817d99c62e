package engine

import (
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNameRuleIsSchemasName: the Go side of #Name is read from schemas/stack.cue and accepts exactly
// what the evaluated #Name accepts.
func TestNameRuleIsSchemasName(t *testing.T) {
	rule, err := LoadNameRule()
	require.NoError(t, err)
	inst, err := LoadEmbedded("./schemas")
	require.NoError(t, err)
	ctx := cuecontext.New()
	v := ctx.BuildInstance(inst)
	require.NoError(t, v.Err())
	name := v.LookupPath(cue.ParsePath("#Name"))
	require.True(t, name.Exists())

	for _, s := range []string{
		"web", "a", "0", "web-1", "1-web", strings.Repeat("a", 63), strings.Repeat("a", 64),
		"", "-web", "web-", "Web", "web_1", "web.1", "wéb", "web 1", strings.Repeat("é", 40),
	} {
		cueOK := name.Unify(ctx.Encode(s)).Validate(cue.Concrete(true)) == nil
		assert.Equal(t, cueOK, rule.Match(s), "%q", s)
	}
}

func TestParseNameRule(t *testing.T) {
	for _, tc := range []struct {
		name, src, err string
		max            int
		pattern        string
	}{
		{name: "the schema's form", src: `#Name: =~"^[a-z]+$" & strings.MaxRunes(8)`, max: 8, pattern: "^[a-z]+$"},
		{name: "either order", src: `#Name: strings.MaxRunes(3) & =~"^x"`, max: 3, pattern: "^x"},
		{name: "absent", src: `#Other: string`, err: "schemas/stack.cue: no #Name"},
		{name: "a plain string", src: `#Name: string`, err: "schemas/stack.cue: #Name is not `=~\"...\" & strings.MaxRunes(n)`"},
		{name: "no bound", src: `#Name: =~"^x" & string`, err: "schemas/stack.cue: #Name is not `=~\"...\" & strings.MaxRunes(n)`"},
		{name: "another call", src: `#Name: =~"^x" & strings.MinRunes(3)`, err: "schemas/stack.cue: #Name: unexpected call"},
		{name: "a bad pattern", src: `#Name: =~"(" & strings.MaxRunes(3)`, err: "schemas/stack.cue: #Name: error parsing regexp: missing closing ): `(`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseNameRule([]byte("package schemas\n\n" + tc.src + "\n"))
			if tc.err != "" {
				assert.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.max, r.MaxRunes)
			assert.Equal(t, tc.pattern, r.Pattern.String())
		})
	}
}
