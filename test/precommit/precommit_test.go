// Package precommit_test runs this repository's .pre-commit-hooks.yaml through the real pre-commit tool
// (Debian's pre-commit 3.0.x; hack/ci-deps.sh installs it) on a fleet repository made by `vmo-cue init`,
// committing with `git commit` as a person would.
//
// The hooks are installed the way users get them: `language: golang`, so pre-commit clones the hook
// repository and runs `go install ./...` in it. The hook repository is a snapshot of this working tree
// (tracked and untracked files, minus git-ignored ones) committed into a temporary git repository:
// the test checks the source on disk, like every other Go test, and not whatever HEAD happens to be.
// The Go caches of the environment (GOMODCACHE, GOCACHE, GOFLAGS, GOPROXY) are passed on explicitly:
// pre-commit sets GOPATH for the install, which would otherwise move the module cache into its own
// folder and download every module again.
package precommit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

const (
	vetID    = "vmo-cue-vet"
	assignID = "vmo-cue-mac-assign"

	// EnvBin names a prebuilt vmo-cue to use instead of building one.
	EnvBin = "VMO_CUE_BIN"

	// commandTimeout bounds every command; the hook install (a `go install ./...`) is the slow one.
	commandTimeout = 10 * time.Minute
	// maxUntracked: larger untracked files (a stray binary, say) are left out of the hook repository.
	maxUntracked = 8 << 20
)

// hook is one entry of .pre-commit-hooks.yaml.
type hook struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Entry         string `json:"entry"`
	Language      string `json:"language"`
	Files         string `json:"files"`
	PassFilenames *bool  `json:"pass_filenames"`
	RequireSerial *bool  `json:"require_serial"`
}

// config is a .pre-commit-config.yaml.
type config struct {
	Repos []struct {
		Repo  string `json:"repo"`
		Rev   string `json:"rev"`
		Hooks []struct {
			ID string `json:"id"`
		} `json:"hooks"`
	} `json:"repos"`
}

func TestHooksFile(t *testing.T) {
	hooks := readHooks(t, repoRoot(t))
	require.Len(t, hooks, 2)
	want := map[string]string{vetID: "vmo-cue vet", assignID: "vmo-cue mac assign"}
	for _, h := range hooks {
		t.Run(h.ID, func(t *testing.T) {
			entry, ok := want[h.ID]
			require.True(t, ok, "unexpected hook id %q", h.ID)
			assert.Equal(t, entry, h.Entry)
			assert.Equal(t, "golang", h.Language)
			assert.Equal(t, `\.(cue|ya?ml)$`, h.Files)
			require.NotNil(t, h.PassFilenames, "pass_filenames must be set: the hooks check the whole fleet")
			assert.False(t, *h.PassFilenames)
			require.NotNil(t, h.RequireSerial)
			assert.True(t, *h.RequireSerial)
			// The pattern is a Python regex; this one means the same in Go.
			re := regexp.MustCompile(h.Files)
			for _, f := range []string{"fleet.cue", "clusters/a/vms/web.yaml", "x.yml", ".pre-commit-config.yaml"} {
				assert.True(t, re.MatchString(f), f)
			}
			for _, f := range []string{"main.go", "README.md", "vms.yaml.bak"} {
				assert.False(t, re.MatchString(f), f)
			}
		})
	}
}

func TestPreCommit(t *testing.T) {
	preCommit, err := exec.LookPath("pre-commit")
	require.NoError(t, err, "this test runs the real pre-commit tool and it is not on PATH: "+
		"run hack/ci-deps.sh (it installs the Debian package pre-commit) or `apt-get install -y pre-commit`")
	root := repoRoot(t)
	tmp := t.TempDir()
	r := newRunner(t, tmp)

	out, _ := r.mustRun(tmp, preCommit, "--version")
	t.Logf("%s at %s", strings.TrimSpace(out), preCommit)

	start := time.Now()
	bin := vmoCue(t, r, root, tmp)
	t.Logf("vmo-cue ready in %s: %s", since(start), bin)

	start = time.Now()
	hookRepo, rev := snapshot(t, r, root, filepath.Join(tmp, "hook-repo"))
	t.Logf("hook repository snapshot %s at %s in %s", hookRepo, rev[:12], since(start))

	// The fleet repository, as `vmo-cue init` writes it, with its .pre-commit-config.yaml pointed at
	// the snapshot instead of GitHub.
	fleet := filepath.Join(tmp, "fleet")
	r.mustRun(tmp, bin, "init", fleet)
	r.mustRun(fleet, "git", "init", "-q", "-b", "main")
	r.mustRun(fleet, "git", "config", "user.name", "Pre Commit Test")
	r.mustRun(fleet, "git", "config", "user.email", "pre-commit-test@example.com")
	ids := pointConfigAt(t, fleet, hookRepo, rev)
	assert.Equal(t, []string{assignID, vetID}, ids, "vmo-cue init's config: the fixer first, then vet")
	hookIDs := []string{}
	for _, h := range readHooks(t, root) {
		hookIDs = append(hookIDs, h.ID)
	}
	for _, id := range ids {
		assert.Contains(t, hookIDs, id, "vmo-cue init's .pre-commit-config.yaml uses a hook that .pre-commit-hooks.yaml does not declare")
	}

	web := filepath.Join(fleet, "clusters", "edge-1", "vms", "web.yaml")
	template := string(mustRead(t, web))
	require.NotContains(t, template, "macAddress:", "vmo-cue init's VM has a MAC already")
	writeVM(t, web, template, "web", "0A:BB:CC:00:00:01")

	r.mustRun(fleet, preCommit, "install")
	start = time.Now()
	out, _ = r.mustRun(fleet, preCommit, "install-hooks")
	install := since(start)
	t.Logf("pre-commit install-hooks (clone + language: golang `go install ./...`) took %s:\n%s", install, out)
	installed, err := filepath.Glob(filepath.Join(r.preCommitHome, "repo*", "golangenv-*", "bin", "*"))
	require.NoError(t, err)
	var names []string
	for _, p := range installed {
		names = append(names, filepath.Base(p))
	}
	t.Logf("commands installed in the hook environment: %s", strings.Join(names, ", "))
	require.Contains(t, names, "vmo-cue", "pre-commit's go install did not produce vmo-cue")

	t.Run("a good commit goes through", func(t *testing.T) {
		r.mustRun(fleet, "git", "add", "-A")
		out, code := r.timed(t, fleet, "git", "commit", "-m", "a fleet with one VM")
		require.Equal(t, 0, code, "git commit was refused:\n%s", out)
		assertHook(t, out, "vmo-cue mac assign", "Passed")
		assertHook(t, out, "vmo-cue vet", "Passed")
		r.assertClean(t, fleet)
	})

	t.Run("a duplicate MAC is refused", func(t *testing.T) {
		head := r.head(fleet)
		db := filepath.Join(fleet, "clusters", "edge-1", "vms", "db.yaml")
		writeVM(t, db, template, "db", "0a-bb-cc-00-00-01")
		r.mustRun(fleet, "git", "add", "-A")
		out, code := r.timed(t, fleet, "git", "commit", "-m", "a VM with web's MAC")
		assert.NotEqual(t, 0, code, "git commit went through:\n%s", out)
		assert.Equal(t, head, r.head(fleet), "a commit was made")
		assertHook(t, out, "vmo-cue vet", "Failed")
		assert.Contains(t, out, "- hook id: "+vetID)
		assert.Contains(t, out, "rule mac-unique", "vmo-cue's error is not in the output")
		assert.Contains(t, out, "clusters/edge-1/vms/web.yaml")
		assert.Contains(t, out, "clusters/edge-1/vms/db.yaml")
		assert.Regexp(t, `MAC 0a:bb:cc:00:00:01 is used by VM default/db and VM default/web`, out)
		// Back to the last commit for the next case.
		r.mustRun(fleet, "git", "reset", "-q", "--hard")
		assert.NoFileExists(t, db)
		r.assertClean(t, fleet)
	})

	t.Run("the MAC fixer writes a missing MAC", func(t *testing.T) {
		app := filepath.Join(fleet, "clusters", "edge-1", "vms", "app.yaml")
		const rel = "clusters/edge-1/vms/app.yaml"
		writeVM(t, app, template, "app", "")
		r.mustRun(fleet, "git", "add", "-A")
		head := r.head(fleet)
		out, code := r.timed(t, fleet, "git", "commit", "-m", "a VM without a MAC")
		assert.NotEqual(t, 0, code, "git commit went through although the fixer changed a file:\n%s", out)
		assert.Equal(t, head, r.head(fleet), "a commit was made")
		assertHook(t, out, "vmo-cue mac assign", "Failed")
		assert.Contains(t, out, "- hook id: "+assignID)
		assert.Contains(t, out, "- files were modified by this hook")
		m := regexp.MustCompile(regexp.QuoteMeta(rel) + `:\d+: default/app interface vlan-100: macAddress ([0-9a-f:]{17})`).FindStringSubmatch(out)
		require.NotNil(t, m, "vmo-cue mac assign's report of the MAC it wrote is not in the output:\n%s", out)
		mac := m[1]
		assert.Contains(t, string(mustRead(t, app)), "macAddress: \""+mac+"\"")
		diff, _ := r.mustRun(fleet, "git", "diff", "--name-only")
		assert.Equal(t, rel, strings.TrimSpace(diff), "the fixer changed other files")

		r.mustRun(fleet, "git", "add", rel)
		out, code = r.timed(t, fleet, "git", "commit", "-m", "a VM without a MAC, fixed")
		require.Equal(t, 0, code, "git commit was refused after the fix:\n%s", out)
		assertHook(t, out, "vmo-cue mac assign", "Passed")
		assertHook(t, out, "vmo-cue vet", "Passed")
		committed, _ := r.mustRun(fleet, "git", "show", "HEAD:"+rel)
		assert.Contains(t, committed, "macAddress: \""+mac+"\"")
		r.assertClean(t, fleet)
	})
	t.Logf("hook install took %s (language: golang, go install ./... with the environment's Go caches)", install)
}

// runner runs commands in a fixed, hermetic environment: no global or system git configuration, no
// GIT_* or PRE_COMMIT* variables from outside (the test may run inside a git hook), pre-commit's store
// in a temporary folder, and the Go caches and settings of the environment made explicit.
type runner struct {
	t             *testing.T
	env           []string
	preCommitHome string
}

func newRunner(t *testing.T, tmp string) *runner {
	gitConfig := filepath.Join(tmp, "gitconfig")
	require.NoError(t, os.WriteFile(gitConfig, nil, 0o644))
	r := &runner{t: t, preCommitHome: filepath.Join(tmp, "pre-commit-home")}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GIT_") || strings.HasPrefix(k, "PRE_COMMIT") || k == "SKIP" || k == "GOBIN" {
			continue
		}
		r.env = append(r.env, kv)
	}
	var goEnv map[string]string
	out, _ := r.mustRun(tmp, "go", "env", "-json", "GOMODCACHE", "GOCACHE", "GOFLAGS", "GOPROXY", "GOTOOLCHAIN")
	require.NoError(t, json.Unmarshal([]byte(out), &goEnv))
	for _, k := range slices.Sorted(maps.Keys(goEnv)) {
		r.env = append(r.env, k+"="+goEnv[k])
	}
	r.env = append(r.env,
		"GOWORK=off",
		"PRE_COMMIT_HOME="+r.preCommitHome,
		"PRE_COMMIT_COLOR=never",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+gitConfig,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_EDITOR=true",
	)
	t.Logf("Go settings passed to pre-commit: %v", goEnv)
	return r
}

// run runs a command with no input and returns its combined output and exit code.
func (r *runner) run(dir, name string, args ...string) (string, int) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = r.env
	cmd.Stdin = nil
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() != nil {
		r.t.Fatalf("%s %s: no result after %s:\n%s", name, strings.Join(args, " "), commandTimeout, out.String())
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), exit.ExitCode()
	}
	require.NoError(r.t, err, "%s %s", name, strings.Join(args, " "))
	return out.String(), 0
}

func (r *runner) mustRun(dir, name string, args ...string) (string, int) {
	r.t.Helper()
	out, code := r.run(dir, name, args...)
	require.Equal(r.t, 0, code, "%s %s failed:\n%s", name, strings.Join(args, " "), out)
	return out, code
}

// timed runs a command and logs how long it took and what it printed.
func (r *runner) timed(t *testing.T, dir, name string, args ...string) (string, int) {
	t.Helper()
	start := time.Now()
	out, code := r.run(dir, name, args...)
	t.Logf("%s %s: exit %d after %s:\n%s", name, strings.Join(args, " "), code, since(start), out)
	return out, code
}

func (r *runner) head(repo string) string {
	r.t.Helper()
	out, _ := r.mustRun(repo, "git", "rev-parse", "HEAD")
	return strings.TrimSpace(out)
}

func (r *runner) assertClean(t *testing.T, repo string) {
	t.Helper()
	out, _ := r.mustRun(repo, "git", "status", "--porcelain")
	assert.Empty(t, out, "the fleet repository has changes left")
}

// vmoCue returns $VMO_CUE_BIN or a vmo-cue built from this working tree.
func vmoCue(t *testing.T, r *runner, root, tmp string) string {
	if bin := os.Getenv(EnvBin); bin != "" {
		abs, err := filepath.Abs(bin)
		require.NoError(t, err)
		require.FileExists(t, abs, "$%s", EnvBin)
		return abs
	}
	bin := filepath.Join(tmp, "bin", "vmo-cue")
	r.mustRun(root, "go", "build", "-o", bin, "./cmd/vmo-cue")
	return bin
}

// snapshot commits this working tree (tracked files as they are on disk, untracked files that git does
// not ignore) into a new git repository at dir, and returns dir and the commit.
func snapshot(t *testing.T, r *runner, root, dir string) (string, string) {
	list := func(args ...string) []string {
		out, _ := r.mustRun(root, "git", append([]string{"ls-files", "-z"}, args...)...)
		return strings.Split(strings.TrimSuffix(out, "\x00"), "\x00")
	}
	untracked := map[string]bool{}
	for _, f := range list("--others", "--exclude-standard") {
		untracked[f] = true
	}
	files := list("--cached", "--others", "--exclude-standard")
	require.Contains(t, files, ".pre-commit-hooks.yaml")
	copied := 0
	for _, f := range slices.Compact(slices.Sorted(slices.Values(files))) {
		if f == "" {
			continue
		}
		src := filepath.Join(root, filepath.FromSlash(f))
		fi, err := os.Lstat(src)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the working tree
		}
		require.NoError(t, err)
		if untracked[f] && fi.Size() > maxUntracked {
			t.Logf("hook repository: left out untracked %s (%d bytes)", f, fi.Size())
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(f))
		require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(src)
			require.NoError(t, err)
			require.NoError(t, os.Symlink(target, dst))
		case fi.Mode().IsRegular():
			copyFile(t, src, dst, fi.Mode().Perm())
		default:
			continue // a submodule or other non-file
		}
		copied++
	}
	r.mustRun(dir, "git", "init", "-q", "-b", "main")
	r.mustRun(dir, "git", "add", "-A")
	r.mustRun(dir, "git", "-c", "user.name=snapshot", "-c", "user.email=snapshot@example.com", "commit", "-q", "-m", fmt.Sprintf("snapshot of %s", root))
	t.Logf("hook repository: %d files", copied)
	return dir, r.head(dir)
}

func copyFile(t *testing.T, src, dst string, perm os.FileMode) {
	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}

// pointConfigAt rewrites the fleet's .pre-commit-config.yaml to take vmo-cue's hooks from repo at rev,
// and returns the hook ids it uses.
func pointConfigAt(t *testing.T, fleet, repo, rev string) []string {
	path := filepath.Join(fleet, ".pre-commit-config.yaml")
	var cfg config
	require.NoError(t, yaml.Unmarshal(mustRead(t, path), &cfg))
	require.Len(t, cfg.Repos, 1, "vmo-cue init's .pre-commit-config.yaml")
	assert.Equal(t, "https://github.com/vmo-cue/vmo-cue", cfg.Repos[0].Repo)
	cfg.Repos[0].Repo, cfg.Repos[0].Rev = repo, rev
	data, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data, 0o644))
	var ids []string
	for _, h := range cfg.Repos[0].Hooks {
		ids = append(ids, h.ID)
	}
	return ids
}

// writeVM writes vmo-cue init's VM under another name, with mac on its interface unless mac is "".
func writeVM(t *testing.T, path, template, name, mac string) {
	const iface = "              bridge: {}\n"
	require.Contains(t, template, "\n  name: web\n")
	require.Contains(t, template, iface)
	vm := strings.Replace(template, "\n  name: web\n", "\n  name: "+name+"\n", 1)
	if mac != "" {
		vm = strings.Replace(vm, iface, iface+"              macAddress: \""+mac+"\"\n", 1)
	}
	require.NoError(t, os.WriteFile(path, []byte(vm), 0o644))
}

// assertHook checks pre-commit's status line for a hook: "name.......Passed".
func assertHook(t *testing.T, out, name, status string) {
	t.Helper()
	assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(name)+`\.+`+status+`$`, out, "pre-commit's line for hook %q", name)
}

func readHooks(t *testing.T, root string) []hook {
	var hooks []hook
	require.NoError(t, yaml.Unmarshal(mustRead(t, filepath.Join(root, ".pre-commit-hooks.yaml")), &hooks))
	return hooks
}

// repoRoot is the folder of the main module's go.mod, found upwards from the test's folder.
func repoRoot(t *testing.T) string {
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/vmo-cue/vmo-cue\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "the vmo-cue repository (its go.mod) is not above the test's folder")
		dir = parent
	}
}

func mustRead(t *testing.T, path string) []byte {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return data
}

func since(start time.Time) time.Duration { return time.Since(start).Round(time.Millisecond) }
