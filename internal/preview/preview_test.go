package preview

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func secret(data map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "creds", "namespace": "shop"},
		"data":     data,
	}}
}

func TestSecretsMasked(t *testing.T) {
	tests := []struct {
		name          string
		before, after *unstructured.Unstructured
		action        Action
		want          []string
	}{
		{name: "a value changes", action: Change,
			before: secret(map[string]any{"password": "czNjcjN0", "user": "YWRtaW4="}),
			after:  secret(map[string]any{"password": "bjN3", "user": "YWRtaW4="}),
			want:   []string{"-  password: '*** (before)'\n+  password: '*** (after)'\n", "   user: '***'\n"}},
		{name: "a key added", action: Change,
			before: secret(map[string]any{"user": "YWRtaW4="}),
			after:  secret(map[string]any{"user": "YWRtaW4=", "token": "dG9r"}),
			want:   []string{"+  token: '***'\n"}},
		{name: "created", action: Create, after: secret(map[string]any{"password": "czNjcjN0"}),
			want: []string{"+  password: '***'\n"}},
		{name: "removed", action: Remove, before: secret(map[string]any{"password": "czNjcjN0", "user": "YWRtaW4="}),
			want: []string{"-  password: '***'\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after []*unstructured.Unstructured
			if tt.before != nil {
				before = append(before, tt.before)
			}
			if tt.after != nil {
				after = append(after, tt.after)
			}
			objs := diffObjects(before, after, "aaa", "bbb")
			require.Len(t, objs, 1)
			assert.Equal(t, tt.action, objs[0].Action)
			for _, w := range tt.want {
				assert.Contains(t, objs[0].Diff, w)
			}
			for _, v := range []string{"czNjcjN0", "bjN3", "YWRtaW4=", "dG9r"} {
				assert.NotContains(t, objs[0].Diff, v, "a Secret's value in the diff")
			}
			if tt.before != nil {
				assert.Equal(t, "YWRtaW4=", tt.before.Object["data"].(map[string]any)["user"], "the inputs are not modified")
			}
		})
	}
	same := diffObjects([]*unstructured.Unstructured{secret(map[string]any{"a": "eA=="})}, []*unstructured.Unstructured{secret(map[string]any{"a": "eA=="})}, "a", "b")
	assert.Empty(t, same, "an unchanged Secret is not a change")
}

func TestMarkdownEscapesAndBounds(t *testing.T) {
	diff := "```\n" + strings.Repeat("+ line\n", 200)
	r := &Report{From: Revision{Commit: strings.Repeat("a", 40)}, To: Revision{Commit: strings.Repeat("b", 40), Rev: "HEAD"}, Untouched: []string{"ok|<b>"}}
	for i := 0; i < 100; i++ {
		r.Clusters = append(r.Clusters, Cluster{Name: "edge-" + strings.Repeat("x", i%3) + "|<img>", State: Changed,
			Objects: []Object{{Action: Change, Diff: diff}}})
	}
	r.Vet = Vet{Valid: true, Clusters: 101}
	var b strings.Builder
	require.NoError(t, r.WriteMarkdown(&b))
	out := b.String()
	assert.LessOrEqual(t, len(out), MaxMarkdown)
	assert.NotContains(t, out, "<img>")
	assert.Contains(t, out, "| edge-\\|&lt;img&gt; | changed | 0 | 1 | 0 |")
	assert.Contains(t, out, "````diff\n```\n+ line\n", "the fence is longer than any run of backticks in the diff")
	assert.Regexp(t, `_The diffs of \d+ more clusters are left out \(comment size\): run `+"`vmo-cue diff --from aaaaaaaaaaaa --to bbbbbbbbbbbb`", out)
	assert.Contains(t, out, "ok\\|&lt;b&gt;")
	assert.True(t, strings.HasSuffix(out, "#### vet `bbbbbbbbbbbb`: ok: 101 clusters, 0 VMs, 0 warnings\n\n"), "the vet result is always there")
}
