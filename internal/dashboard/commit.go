package dashboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"sigs.k8s.io/yaml"

	"github.com/vmo-cue/vmo-cue/internal/desired"
	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/macassign"
	"github.com/vmo-cue/vmo-cue/internal/validate"
)

// CommitOptions enable changes through git and say how they are committed.
type CommitOptions struct {
	// Branch, if set, receives the commits (created from HEAD when missing; the working copy returns
	// to its branch afterwards); empty commits on the branch checked out (the followed branch).
	Branch string
	// Name and Email are the committer's identity.
	Name, Email string
	// Remote is pushed to after each commit ("" pushes nothing).
	Remote string
	// Auth are the credentials of the push (nil for file:// and local paths).
	Auth transport.AuthMethod
	// Workspace, when set (the controller), gives each change a private working copy of the
	// repository of the cluster's Fleet, cloned with its credentials, and the credentials of the push
	// (which replace Auth); cleanup removes both. Apply then commits there and pushes to Remote.
	Workspace func(ctx context.Context, cluster string) (dir string, auth transport.AuthMethod, cleanup func(), err error)
	// AfterCommit, if set, is called after a pushed commit (the controller: reconcile the Fleet now).
	AfterCommit func(ctx context.Context, cluster string)
}

// Change is one change asked through the form.
type Change struct {
	Cluster string
	// Template ("namespace/name" of a VM of the cluster) and Name create a VM; else Namespace/Name is
	// the VM edited.
	Template        string
	Namespace, Name string
	// MAC, for a new VM, is the first VLAN interface's MAC (empty: assigned).
	MAC string
	// Sockets, Memory, RunStrategy: empty leaves them as they are.
	Sockets, Memory, RunStrategy string
	// Iface and Network: move that interface to another Multus network.
	Iface, Network string
}

// Committed says what a successful change did.
type Committed struct {
	Hash, Branch, File string
	Pushed             bool
}

// Short is the abbreviated hash.
func (c *Committed) Short() string { return c.Hash[:12] }

// VetError is a change vet refused: nothing was committed, the working copy is as before.
type VetError struct{ Findings []Finding }

func (e *VetError) Error() string {
	var b strings.Builder
	for _, f := range e.Findings {
		fmt.Fprintf(&b, "%s: [%s] %s\n", f.Where, f.Rule, f.Message)
	}
	return "vet refused the change: " + b.String()
}

// Apply writes a change into the working copy at dir, vets it, assigns MACs, commits and pushes. On
// a vet error (or any error before the commit) the working copy's files are restored.
func Apply(dir string, opts *CommitOptions, ch Change) (*Committed, error) {
	if ch.RunStrategy != "" && !contains(RunStrategies, ch.RunStrategy) {
		return nil, fmt.Errorf("run strategy %q: want one of %s", ch.RunStrategy, strings.Join(RunStrategies, ", "))
	}
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return nil, fmt.Errorf("fleet repository %s: %w", dir, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, fmt.Errorf("fleet repository %s: %w", dir, err)
	}
	st, err := wt.Status()
	if err != nil {
		return nil, fmt.Errorf("fleet repository %s: status: %w", dir, err)
	}
	if !st.IsClean() {
		return nil, fmt.Errorf("fleet repository %s has uncommitted changes: commit or stash them first", dir)
	}
	head, err := repo.Head()
	if err != nil {
		return nil, fmt.Errorf("fleet repository %s: %w", dir, err)
	}
	res, err := desired.Load(dir, desired.Options{})
	if err != nil {
		return nil, err
	}
	vc := res.Cluster(ch.Cluster)
	if vc == nil {
		return nil, fmt.Errorf("cluster %s: not in the fleet", diag.Name(ch.Cluster))
	}
	var file string
	var content []byte
	if ch.Template != "" {
		file, content, err = newVMFile(vc, ch)
	} else {
		file, content, err = editVMFile(dir, res, vc, ch)
	}
	if err != nil {
		return nil, err
	}
	abs := filepath.Join(dir, filepath.FromSlash(file))
	// Every file the change touches, with its content before (nil: it did not exist).
	before := map[string][]byte{}
	var touched []string
	keep := func(rel string) error {
		if _, ok := before[rel]; ok {
			return nil
		}
		data, err := readRepoFile(dir, rel)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		before[rel] = data
		touched = append(touched, rel)
		return nil
	}
	restore := func() {
		for rel, data := range before {
			p := filepath.Join(dir, filepath.FromSlash(rel))
			if data == nil {
				_ = os.Remove(p)
			} else {
				_ = os.WriteFile(p, data, 0o644)
			}
		}
	}
	if err := keep(file); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(abs, content, 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", file, err)
	}
	committed := false
	defer func() {
		if !committed {
			restore()
		}
	}()
	res, err = desired.Load(dir, desired.Options{})
	if err != nil {
		return nil, err
	}
	if errs := vetErrors(res, ch.Cluster); len(errs) > 0 {
		return nil, &VetError{Findings: errs}
	}
	// MACs for the changed VM only: the other VMs' interfaces are not this change's business.
	for _, c := range res.Clusters {
		for _, vm := range c.VMs {
			if c.Name == ch.Cluster && vm.Namespace == ch.Namespace && vm.Name == ch.Name {
				continue
			}
			for _, i := range vm.Interfaces {
				i.Assigned = ""
			}
		}
	}
	macs, err := macassign.Plan(res)
	if err != nil {
		return nil, err
	}
	for _, c := range macs {
		if c.File != file {
			if err := keep(c.File); err != nil {
				return nil, err
			}
		}
	}
	if err := macassign.Write(macs); err != nil {
		return nil, err
	}
	if len(macs) > 0 {
		if res, err = desired.Load(dir, desired.Options{}); err != nil {
			return nil, err
		}
		if errs := vetErrors(res, ch.Cluster); len(errs) > 0 {
			return nil, &VetError{Findings: errs}
		}
	}
	final := map[string][]byte{}
	for _, rel := range touched {
		data, err := readRepoFile(dir, rel)
		if err != nil {
			return nil, err
		}
		final[rel] = data
	}
	out := &Committed{File: file, Branch: head.Name().Short()}
	if opts.Branch != "" && opts.Branch != head.Name().Short() {
		// Commit on the branch: check it out (from HEAD if new), keeping the change, and come back.
		restore()
		ref := plumbing.NewBranchReferenceName(opts.Branch)
		_, err := repo.Reference(ref, true)
		co := &git.CheckoutOptions{Branch: ref, Create: err != nil, Keep: false}
		if err := wt.Checkout(co); err != nil {
			return nil, fmt.Errorf("checking out %s: %w", opts.Branch, err)
		}
		defer func() { _ = wt.Checkout(&git.CheckoutOptions{Branch: head.Name()}) }()
		for rel, data := range final {
			p := filepath.Join(dir, filepath.FromSlash(rel))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				return nil, err
			}
		}
		out.Branch = opts.Branch
	}
	for _, rel := range touched {
		if _, err := wt.Add(rel); err != nil {
			return nil, fmt.Errorf("git add %s: %w", rel, err)
		}
	}
	verb := "edit"
	if ch.Template != "" {
		verb = "create"
	}
	sig := &object.Signature{Name: opts.Name, Email: opts.Email, When: time.Now()}
	msg := fmt.Sprintf("dashboard: %s VM %s/%s in %s\n\nWritten by the vmo-cue dashboard into %s; vetted before commit.\n", verb, ch.Namespace, ch.Name, ch.Cluster, file)
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return nil, fmt.Errorf("git commit: %w", err)
	}
	committed = true
	out.Hash = h.String()
	if opts.Remote != "" {
		ref := plumbing.NewBranchReferenceName(out.Branch)
		err := repo.Push(&git.PushOptions{RemoteName: opts.Remote, Auth: opts.Auth,
			RefSpecs: []config.RefSpec{config.RefSpec(ref + ":" + ref)}})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return out, fmt.Errorf("committed %s, but pushing to %s failed: %w", out.Short(), opts.Remote, err)
		}
		out.Pushed = true
	}
	return out, nil
}

func vetErrors(res *validate.Result, cluster string) []Finding {
	var out []Finding
	list := append(diag.List(nil), res.Shared.Errors()...)
	if c := res.Cluster(cluster); c != nil {
		list = append(list, c.Diags.Errors()...)
	}
	for _, d := range list.Dedup() {
		f := Finding{Severity: "error", Rule: d.Rule, Cluster: d.Cluster, Message: d.Message}
		f.Where = where(d.Positions)
		out = append(out, f)
	}
	return out
}

func findVM(vc *validate.Cluster, ns, name string) *validate.VM {
	for _, vm := range vc.VMs {
		if vm.Namespace == ns && vm.Name == name {
			return vm
		}
	}
	return nil
}

// newVMFile copies a template VM of the cluster into a new YAML file of the cluster's folder: the new
// name (also for its DataVolumes and domain label), no MACs but the one asked, the settings asked.
func newVMFile(vc *validate.Cluster, ch Change) (string, []byte, error) {
	if errs := nameErrors(ch.Name); errs != "" {
		return "", nil, fmt.Errorf("name %q: %s", ch.Name, errs)
	}
	tns, tname, _ := strings.Cut(ch.Template, "/")
	tvm := findVM(vc, tns, tname)
	if tvm == nil {
		return "", nil, fmt.Errorf("template %s: no such VM in cluster %s", diag.Name(ch.Template), diag.Name(vc.Name))
	}
	if findVM(vc, tns, ch.Name) != nil {
		return "", nil, fmt.Errorf("VM %s/%s already exists in cluster %s", tns, ch.Name, diag.Name(vc.Name))
	}
	data, err := yaml.Marshal(tvm.Object)
	if err != nil {
		return "", nil, err
	}
	var o map[string]any
	if err := yaml.Unmarshal(data, &o); err != nil {
		return "", nil, err
	}
	o["apiVersion"], o["kind"] = "kubevirt.io/v1", "VirtualMachine"
	md, _ := o["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		o["metadata"] = md
	}
	md["name"] = ch.Name
	rename := func(s string) string { return strings.Replace(s, tname, ch.Name, 1) }
	spec, _ := o["spec"].(map[string]any)
	if dvts, ok := spec["dataVolumeTemplates"].([]any); ok {
		for _, d := range dvts {
			if m, _ := d.(map[string]any)["metadata"].(map[string]any); m != nil {
				if n, ok := m["name"].(string); ok {
					m["name"] = rename(n)
				}
			}
		}
	}
	tspec, _ := get(o, "spec", "template", "spec").(map[string]any)
	if vols, ok := tspec["volumes"].([]any); ok {
		for _, v := range vols {
			if dv, _ := v.(map[string]any)["dataVolume"].(map[string]any); dv != nil {
				if n, ok := dv["name"].(string); ok {
					dv["name"] = rename(n)
				}
			}
		}
	}
	if l, _ := get(o, "spec", "template", "metadata", "labels").(map[string]any); l != nil {
		if _, ok := l["kubevirt.io/domain"]; ok {
			l["kubevirt.io/domain"] = ch.Name
		}
	}
	macSet := ch.MAC == ""
	if ifs, ok := get(o, "spec", "template", "spec", "domain", "devices", "interfaces").([]any); ok {
		for idx, i := range ifs {
			m, _ := i.(map[string]any)
			delete(m, "macAddress")
			if !macSet && idx < len(tvm.Interfaces) && tvm.Interfaces[idx].NeedsMAC {
				m["macAddress"] = ch.MAC
				macSet = true
			}
		}
	}
	if !macSet {
		return "", nil, fmt.Errorf("template %s has no VLAN interface for the MAC %s", diag.Name(ch.Template), ch.MAC)
	}
	if err := setSettings(o, ch); err != nil {
		return "", nil, err
	}
	out, err := yaml.Marshal(o)
	if err != nil {
		return "", nil, err
	}
	file := vc.Dir + "/vms/" + ch.Name + ".yaml"
	head := fmt.Sprintf("# %s: created through the vmo-cue dashboard from %s.\n", ch.Name, ch.Template)
	return file, append([]byte(head), out...), nil
}

func setSettings(o map[string]any, ch Change) error {
	set := func(v any, path ...string) {
		m := o
		for _, p := range path[:len(path)-1] {
			n, ok := m[p].(map[string]any)
			if !ok {
				n = map[string]any{}
				m[p] = n
			}
			m = n
		}
		m[path[len(path)-1]] = v
	}
	if ch.Sockets != "" {
		n, err := sockets(ch.Sockets)
		if err != nil {
			return err
		}
		set(n, "spec", "template", "spec", "domain", "cpu", "sockets")
	}
	if ch.Memory != "" {
		set(ch.Memory, "spec", "template", "spec", "domain", "memory", "guest")
	}
	if ch.RunStrategy != "" {
		spec := o["spec"].(map[string]any)
		delete(spec, "running")
		set(ch.RunStrategy, "spec", "runStrategy")
	}
	return nil
}

func sockets(s string) (int, error) {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 1 || n > 512 || fmt.Sprint(n) != s {
		return 0, fmt.Errorf("CPU sockets %q: want a whole number from 1 to 512", s)
	}
	return n, nil
}

func nameErrors(n string) string {
	if n == "" || len(n) > 63 {
		return "a VM name is 1 to 63 characters"
	}
	for i, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' && i > 0 && i < len(n)-1) {
			return "a VM name is lower-case letters, digits and inner dashes (DNS-1123 label)"
		}
	}
	return ""
}

// editVMFile edits the VM's own file in place: each value replaced where it is written, comments
// and layout kept. A value not written in the VM's own file (absent, or from a shared template) is
// refused: the form would otherwise change other VMs too.
func editVMFile(dir string, all *validate.Result, vc *validate.Cluster, ch Change) (string, []byte, error) {
	vm := findVM(vc, ch.Namespace, ch.Name)
	if vm == nil {
		return "", nil, fmt.Errorf("VM %s/%s: not in cluster %s", ch.Namespace, ch.Name, diag.Name(vc.Name))
	}
	file := Declaration(dir, vc.Dir, vm).File
	data, err := readRepoFile(dir, file)
	if err != nil {
		return "", nil, fmt.Errorf("reading %s: %w", file, err)
	}
	type edit struct {
		path  []string
		value string
	}
	var edits []edit
	quote := func(s string) string {
		if vm.FromYAML {
			return s
		}
		return fmt.Sprintf("%q", s)
	}
	if ch.Sockets != "" {
		n, err := sockets(ch.Sockets)
		if err != nil {
			return "", nil, err
		}
		edits = append(edits, edit{[]string{"spec", "template", "spec", "domain", "cpu", "sockets"}, fmt.Sprint(n)})
	}
	if ch.Memory != "" {
		if strings.ContainsAny(ch.Memory, " \t\n\"'#:{}[],") {
			return "", nil, fmt.Errorf("memory %q: want a quantity such as 4Gi", ch.Memory)
		}
		edits = append(edits, edit{[]string{"spec", "template", "spec", "domain", "memory", "guest"}, quote(ch.Memory)})
	}
	if ch.RunStrategy != "" {
		edits = append(edits, edit{[]string{"spec", "runStrategy"}, quote(ch.RunStrategy)})
	}
	if ch.Iface != "" {
		if strings.ContainsAny(ch.Network, " \t\n\"'#:{}[],") || ch.Network == "" {
			return "", nil, fmt.Errorf("network %q: want namespace/name of a Multus network", ch.Network)
		}
		idx := -1
		nets, _ := get(vm.Object, "spec", "template", "spec", "networks").([]any)
		for i, n := range nets {
			if m, _ := n.(map[string]any); m != nil && m["name"] == ch.Iface {
				idx = i
			}
		}
		if idx < 0 {
			return "", nil, fmt.Errorf("VM %s/%s has no network named %s", ch.Namespace, ch.Name, diag.Name(ch.Iface))
		}
		edits = append(edits, edit{[]string{"spec", "template", "spec", "networks", fmt.Sprint(idx), "multus", "networkName"}, quote(ch.Network)})
	}
	if len(edits) == 0 {
		return "", nil, fmt.Errorf("nothing to change")
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	for _, e := range edits {
		p := vm.Pos(e.path...)
		where := fmt.Sprintf("%s:%d", diag.Name(p.File), p.Line)
		if p.File != file || p.Line < 1 || p.Line > len(lines) {
			return "", nil, fmt.Errorf("%s is not written in %s (the VM's own file) but at %s: edit it there by hand", strings.Join(e.path, "."), diag.Name(file), where)
		}
		if other := sharedWith(all, vm, e.path, p); other != "" {
			return "", nil, fmt.Errorf("%s is written at %s for %s too (a template): edit it there by hand", strings.Join(e.path, "."), where, other)
		}
		line, err := replaceValue(string(lines[p.Line-1]), p.Col, e.path[len(e.path)-1], e.value)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %s: %w", where, strings.Join(e.path, "."), err)
		}
		lines[p.Line-1] = []byte(line)
	}
	return file, bytes.Join(lines, nil), nil
}

// replaceValue replaces the scalar after `key:` found at column col (1-based) of line.
func replaceValue(line string, col int, key, value string) (string, error) {
	i := col - 1
	if i < 0 || i >= len(line) {
		return "", fmt.Errorf("not found at column %d", col)
	}
	rest := line[i:]
	k := strings.TrimPrefix(strings.TrimPrefix(rest, `"`), "'")
	if !strings.HasPrefix(k, key) {
		return "", fmt.Errorf("not written here (a value from elsewhere): edit it by hand")
	}
	colon := strings.IndexByte(rest, ':')
	if colon < 0 {
		return "", fmt.Errorf("no value after the key")
	}
	j := i + colon + 1
	for j < len(line) && (line[j] == ' ' || line[j] == '\t') {
		j++
	}
	end := j
	if j < len(line) && (line[j] == '"' || line[j] == '\'') {
		q := line[j]
		end = j + 1
		for end < len(line) && line[end] != q {
			if line[end] == '\\' {
				end++
			}
			end++
		}
		end++
	} else {
		for end < len(line) && !strings.ContainsRune(",}] \t\r\n#", rune(line[end])) {
			end++
		}
	}
	if end == j || end > len(line) {
		return "", fmt.Errorf("not a single value on this line: edit it by hand")
	}
	return line[:j] + value + line[end:], nil
}

// sharedWith names another VM of the fleet whose value at path is written at the same place, or "".
func sharedWith(all *validate.Result, vm *validate.VM, path []string, p diag.Position) string {
	for _, c := range all.Clusters {
		for _, o := range c.VMs {
			if o != vm && o.Pos != nil && o.Pos(path...) == p {
				return c.Name + ":" + o.Namespace + "/" + o.Name
			}
		}
	}
	return ""
}

// where writes positions as file:line, joined.
func where(ps []diag.Position) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("%s:%d", diag.Name(p.File), p.Line))
	}
	return strings.Join(parts, ", ")
}
