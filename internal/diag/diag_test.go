package diag

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestName(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"a plain path prints as it is", "clusters/edge-1/vms/web.yaml", "clusters/edge-1/vms/web.yaml"},
		{"spaces and non-ASCII letters are printable", "clusters/dc 1/vms/café.yaml", "clusters/dc 1/vms/café.yaml"},
		{"an escape sequence is quoted", "vms/w\x1b[31meb.yaml", `"vms/w\x1b[31meb.yaml"`},
		{"CR and newline are quoted", "a\r\nb.yaml", `"a\r\nb.yaml"`},
		{"a tab is quoted", "a\tb", `"a\tb"`},
		{"a C1 control (CSI) is quoted", "a\u009b2Jb", `"a\u009b2Jb"`},
		{"a bidi override is quoted", "a\u202eb", `"a\u202eb"`},
		{"a Unicode line separator is quoted", "a\u2028b", `"a\u2028b"`},
		{"invalid UTF-8 is quoted", "a\xffb", `"a\xffb"`},
		{"a leading double quote is quoted, so a quoted name is never ambiguous", `"x.yaml"`, `"\"x.yaml\""`},
		{"a double quote inside is printable", `a"b`, `a"b`},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Name(tc.in))
		})
	}
}

// A file name with control characters cannot forge a finding: the finding is printed on as many lines
// as it has positions, with the name quoted and no control byte but the newlines that end lines.
func TestPrintQuotesFileNames(t *testing.T) {
	forged := "clusters/edge-1/vms/w\x1b[2Jeb\r\n    ./clusters/edge-1/vms/x.yaml:1:1.yaml"
	l := List{
		{Severity: Error, Rule: "schema", Path: "vms.web.spec", Message: "field not allowed",
			Positions: []Position{{File: forged, Line: 4, Col: 3}, {File: "clusters/edge-1/vms/web.yaml", Line: 2, Col: 1}}},
		{Severity: Warning, Rule: "symlink", Message: "symlink not followed", Positions: []Position{{File: "clusters/a\nb"}}},
		// A message from elsewhere (CUE's loader) that names a file: quoted whole.
		{Severity: Error, Rule: "cue-syntax", Message: "cannot load \"./clusters/a\r\nb:c.cue\""},
	}
	var b strings.Builder
	assert.NoError(t, l.Print(&b))
	assert.Equal(t, `vms.web.spec: field not allowed (rule schema):
    "./clusters/edge-1/vms/w\x1b[2Jeb\r\n    ./clusters/edge-1/vms/x.yaml:1:1.yaml":4:3
    ./clusters/edge-1/vms/web.yaml:2:1
warning: symlink not followed (rule symlink):
    "./clusters/a\nb"
"cannot load \"./clusters/a\r\nb:c.cue\"" (rule cue-syntax):
`, b.String())
	for _, c := range b.String() {
		assert.False(t, c != '\n' && (c < 0x20 || c == 0x7f), "control character %q in the output", c)
	}
}

func TestFileError(t *testing.T) {
	_, err := os.ReadFile("/nonexistent/dir/a\x1b[2J.yaml")
	got := FileError(err)
	assert.Equal(t, "no such file or directory", got.Error())
	assert.True(t, errors.Is(got, fs.ErrNotExist))
	other := errors.New("other")
	assert.Equal(t, other, FileError(other))
}
