package testcluster_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/vmo-cue/vmo-cue/internal/testcluster"
)

// maxStart bounds the start of three clusters. The target is 15 s on a 2-core machine with nothing
// else running (the measured time is logged); the bound leaves room for `go test ./...` running
// other packages' tests at the same time under the race detector.
const maxStart = 30 * time.Second

func TestClustersAreIsolated(t *testing.T) {
	names := []string{"alpha", "beta", "gamma"}
	env := testcluster.Start(t, names...)
	t.Logf("3 clusters started in %s (target: 15s)", env.StartTime.Round(time.Millisecond))
	assert.Less(t, env.StartTime, maxStart)
	require.Equal(t, names, env.Names())
	ctx := t.Context()

	clients := map[string]kubernetes.Interface{}
	for _, c := range env.Clusters {
		cs, err := kubernetes.NewForConfig(c.Config())
		require.NoError(t, err)
		clients[c.Name] = cs
		_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "only-in-" + c.Name}}, metav1.CreateOptions{})
		require.NoError(t, err, "create a namespace in %s", c.Name)
	}

	for _, in := range names {
		for _, ns := range names {
			t.Run(fmt.Sprintf("namespace of %s seen from %s", ns, in), func(t *testing.T) {
				_, err := clients[in].CoreV1().Namespaces().Get(ctx, "only-in-"+ns, metav1.GetOptions{})
				if in == ns {
					assert.NoError(t, err)
				} else {
					assert.True(t, apierrors.IsNotFound(err), "want NotFound, got %v", err)
				}
			})
		}
	}

	t.Run("kubeconfig has one context per cluster", func(t *testing.T) {
		raw, err := clientcmd.LoadFromFile(env.Kubeconfig)
		require.NoError(t, err)
		assert.Len(t, raw.Contexts, len(names))
		assert.Equal(t, names[0], raw.CurrentContext)
		for _, name := range names {
			cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, name, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
			require.NoError(t, err, name)
			cs, err := kubernetes.NewForConfig(cfg)
			require.NoError(t, err)
			_, err = cs.CoreV1().Namespaces().Get(ctx, "only-in-"+name, metav1.GetOptions{})
			assert.NoError(t, err, "context %s reaches cluster %s", name, name)
		}
		info, err := os.Stat(env.Kubeconfig)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the kubeconfig holds admin tokens")
	})

	t.Run("each cluster has its own etcd prefix and port", func(t *testing.T) {
		prefixes, urls := map[string]bool{}, map[string]bool{}
		for _, c := range env.Clusters {
			prefixes[c.EtcdPrefix], urls[c.URL] = true, true
		}
		assert.Len(t, prefixes, len(names))
		assert.Len(t, urls, len(names))
	})
}

func TestStackCRDs(t *testing.T) {
	env := testcluster.StartWithCRDs(t, "crds")
	cfg := env.Clusters[0].Config()
	ctx := t.Context()
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)

	stack, err := testcluster.StackCRDs()
	require.NoError(t, err)
	var crdNames []string
	for _, c := range stack {
		crdNames = append(crdNames, c.Name)
	}
	for _, want := range []string{
		"virtualmachines.kubevirt.io", "virtualmachineinstances.kubevirt.io",
		"virtualmachinesnapshots.snapshot.kubevirt.io", "virtualmachinerestores.snapshot.kubevirt.io",
		"virtualmachineexports.export.kubevirt.io", "datavolumes.cdi.kubevirt.io",
		"kubevirts.kubevirt.io", "cdis.cdi.kubevirt.io",
		"network-attachment-definitions.k8s.cni.cncf.io",
		"volumesnapshots.snapshot.storage.k8s.io", "volumesnapshotcontents.snapshot.storage.k8s.io",
		"volumesnapshotclasses.snapshot.storage.k8s.io",
	} {
		assert.Contains(t, crdNames, want)
	}

	crdClient := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	for _, name := range crdNames {
		t.Run("Established "+name, func(t *testing.T) {
			got, err := crdClient.Get(ctx, name, metav1.GetOptions{})
			require.NoError(t, err)
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			established := false
			for _, c := range conds {
				cm := c.(map[string]any)
				if cm["type"] == "Established" && cm["status"] == "True" {
					established = true
				}
			}
			assert.True(t, established, "conditions: %v", conds)
		})
	}

	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "vms"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	vms := dyn.Resource(schema.GroupVersionResource{Group: "kubevirt.io", Version: "v1", Resource: "virtualmachines"}).Namespace("vms")

	tests := []struct {
		name      string
		sockets   any
		wantField string // empty: accepted
	}{
		{name: "valid", sockets: 2},
		{name: "sockets-is-a-string", sockets: "two", wantField: "spec.template.spec.domain.cpu.sockets"},
		{name: "sockets-is-an-object", sockets: map[string]any{"count": 2}, wantField: "spec.template.spec.domain.cpu.sockets"},
	}
	for _, tc := range tests {
		t.Run("VirtualMachine "+tc.name, func(t *testing.T) {
			vm := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "kubevirt.io/v1",
				"kind":       "VirtualMachine",
				"metadata":   map[string]any{"name": tc.name},
				"spec": map[string]any{
					"runStrategy": "Halted",
					"template": map[string]any{
						"spec": map[string]any{
							"domain": map[string]any{
								"cpu":     map[string]any{"sockets": tc.sockets},
								"memory":  map[string]any{"guest": "1Gi"},
								"devices": map[string]any{},
							},
						},
					},
				},
			}}
			_, err := vms.Create(ctx, vm, metav1.CreateOptions{})
			if tc.wantField == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.True(t, apierrors.IsInvalid(err), "want Invalid, got %v", err)
			assert.Contains(t, err.Error(), tc.wantField)
		})
	}
}

func TestStopLeavesNoProcess(t *testing.T) {
	env := testcluster.Start(t, "one", "two")
	procs := env.Processes()
	require.Len(t, procs, 3, "etcd and two kube-apiservers")
	for _, p := range procs {
		require.NotEmpty(t, groupMembers(p.Pid), "%s (pid %d) runs before Stop", p.Name, p.Pid)
	}
	dir := env.Dir
	require.NoError(t, env.Stop())
	require.NoError(t, env.Stop(), "Stop twice")
	for _, p := range procs {
		assert.Empty(t, groupMembers(p.Pid), "%s (process group %d) after Stop", p.Name, p.Pid)
	}
	_, err := os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "the temporary folder is removed")
}

func TestMissingBinariesFailClearly(t *testing.T) {
	_, err := testcluster.StartProcesses(t.Context(), testcluster.Options{Names: []string{"x"}, BinDir: t.TempDir()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "make testenv")
}

func TestInvalidNames(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{nil, "no cluster names"},
		{[]string{"a", "a"}, `cluster name "a" given twice`},
		{[]string{"has space"}, `invalid cluster name "has space"`},
		{[]string{"../up"}, `invalid cluster name "../up"`},
		{[]string{""}, `invalid cluster name ""`},
	} {
		_, err := testcluster.StartProcesses(t.Context(), testcluster.Options{Names: tc.names})
		assert.ErrorContains(t, err, tc.want, "names %q", tc.names)
	}
}

// childEnv names the variable that makes TestHarnessChild (run by TestNoProcessLeftWhenATestDies in
// a child process, a copy of this test binary) start clusters and then end badly in the given way.
const (
	childEnv     = "VMO_TESTCLUSTER_CHILD"
	childPidsEnv = "VMO_TESTCLUSTER_CHILD_PIDS"
)

// TestHarnessChild does nothing unless run by TestNoProcessLeftWhenATestDies.
func TestHarnessChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		return
	}
	pidsFile := os.Getenv(childPidsEnv)
	start := func(t *testing.T) {
		env := testcluster.Start(t, "child")
		var lines []string
		for _, p := range env.Processes() {
			lines = append(lines, strconv.Itoa(p.Pid))
		}
		require.NoError(t, os.WriteFile(pidsFile, []byte(strings.Join(lines, "\n")), 0o600))
		require.NoError(t, os.WriteFile(pidsFile+".dir", []byte(env.Dir), 0o600))
	}
	switch mode {
	case "fail":
		start(t)
		t.Fatal("failing on purpose")
	case "panic":
		start(t)
		panic("panicking on purpose")
	case "sigkill":
		start(t)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL) // no cleanup runs: the kernel's Pdeathsig must do it
		time.Sleep(time.Minute)
	case "failing-subtest":
		t.Run("fails", func(t *testing.T) {
			start(t)
			t.Fatal("failing on purpose")
		})
		// The subtest's cleanup has run: its processes are gone while this test goes on.
		data, err := os.ReadFile(pidsFile)
		require.NoError(t, err)
		for _, f := range strings.Fields(string(data)) {
			pid, _ := strconv.Atoi(f)
			if members := groupMembers(pid); len(members) > 0 {
				t.Errorf("LEFT: process group %d still has %v after the failing subtest", pid, members)
			}
		}
	default:
		t.Fatalf("unknown %s=%q", childEnv, mode)
	}
}

func TestNoProcessLeftWhenATestDies(t *testing.T) {
	for _, mode := range []string{"fail", "panic", "failing-subtest", "sigkill"} {
		t.Run(mode, func(t *testing.T) {
			pidsFile := filepath.Join(t.TempDir(), "pids")
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHarnessChild$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), childEnv+"="+mode, childPidsEnv+"="+pidsFile)
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "the child test must fail; its output:\n%s", out)
			assert.NotContains(t, string(out), "LEFT:")

			if dir, err := os.ReadFile(pidsFile + ".dir"); err == nil {
				if mode == "sigkill" { // the killed child could not remove its folder
					t.Cleanup(func() { _ = os.RemoveAll(string(dir)) })
				} else {
					_, err := os.Stat(string(dir))
					assert.True(t, os.IsNotExist(err), "the child's cleanup removed %s", dir)
				}
			}
			data, rerr := os.ReadFile(pidsFile)
			require.NoError(t, rerr, "the child started clusters; its output:\n%s", out)
			pids := strings.Fields(string(data))
			require.Len(t, pids, 2, "etcd and a kube-apiserver")
			for _, f := range pids {
				pid, err := strconv.Atoi(f)
				require.NoError(t, err)
				// After SIGKILL of the parent the kernel kills the children; give them a moment to go.
				require.Eventually(t, func() bool { return len(groupMembers(pid)) == 0 }, 10*time.Second, 50*time.Millisecond,
					"process group %d still has %v", pid, groupMembers(pid))
			}
		})
	}
}

// groupMembers returns the live (non-zombie) processes whose process group is pgid, read from /proc.
func groupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		panic(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 3 || fields[0] == "Z" || fields[0] == "X" {
			continue
		}
		if g, _ := strconv.Atoi(fields[2]); g == pgid {
			pids = append(pids, pid)
		}
	}
	return pids
}
