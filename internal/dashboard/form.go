package dashboard

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
)

// RunStrategies are KubeVirt's run strategies.
var RunStrategies = []string{"Always", "RerunOnFailure", "Manual", "Halted", "Once"}

type option struct{ Value, Label string }

type formData struct {
	*page
	Edit          bool
	Action        string
	Form          Change
	Clusters      []string
	Templates     []option
	RunStrategies []string
	Ifaces        []string
	Errors        []Finding
	Done          *Committed
	Branch        string
}

func (s *Server) formPage(w http.ResponseWriter, r *http.Request, id *Identity, ch Change, edit bool) *formData {
	base, snap := s.base(w, r, id, "Change a VM through git")
	base.CSRF = s.csrfToken(w, r)
	d := &formData{page: base, Edit: edit, Form: ch, RunStrategies: RunStrategies, Branch: s.opts.Commits.Branch, Action: "/vm/new"}
	if edit {
		d.Action = vmLink(ch.Cluster, ch.Namespace, ch.Name) + "/edit"
		if vm := s.findVM(snap, ch.Cluster, ch.Namespace, ch.Name); vm != nil {
			for _, i := range vm.Interfaces {
				if strings.Contains(i.Network, "/") {
					d.Ifaces = append(d.Ifaces, i.Name)
				}
			}
		}
		return d
	}
	for name := range snap.Git.Clusters {
		d.Clusters = append(d.Clusters, name)
	}
	sort.Strings(d.Clusters)
	if d.Form.Cluster == "" && len(d.Clusters) > 0 {
		d.Form.Cluster = d.Clusters[0]
	}
	if gc := snap.Git.Clusters[d.Form.Cluster]; gc != nil {
		for _, vm := range gc.VMs {
			d.Templates = append(d.Templates, option{Value: vm.Namespace + "/" + vm.Name, Label: vm.Namespace + "/" + vm.Name + " (" + vm.Where() + ")"})
		}
	}
	return d
}

func (s *Server) newForm(w http.ResponseWriter, r *http.Request, id *Identity) {
	ch := Change{Cluster: r.URL.Query().Get("cluster"), RunStrategy: "Always"}
	s.render(w, r, "form", nil, s.formPage(w, r, id, ch, false))
}

func (s *Server) editForm(w http.ResponseWriter, r *http.Request, id *Identity) {
	_, snap := s.base(w, r, id, "")
	ch := Change{Cluster: r.PathValue("cluster"), Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	vm := s.findVM(snap, ch.Cluster, ch.Namespace, ch.Name)
	if vm == nil {
		http.NotFound(w, r)
		return
	}
	ch.Memory, ch.RunStrategy = vm.Memory, vm.RunStrategy
	s.render(w, r, "form", nil, s.formPage(w, r, id, ch, true))
}

func formChange(r *http.Request) Change {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	return Change{Cluster: v("cluster"), Template: v("template"), Namespace: v("namespace"), Name: v("name"), MAC: v("mac"),
		Sockets: v("sockets"), Memory: v("memory"), RunStrategy: v("runStrategy"), Iface: v("iface"), Network: v("network")}
}

func (s *Server) newSubmit(w http.ResponseWriter, r *http.Request, id *Identity) {
	ch := formChange(r)
	ch.Namespace, _, _ = strings.Cut(ch.Template, "/")
	s.submit(w, r, id, ch, false)
}

func (s *Server) editSubmit(w http.ResponseWriter, r *http.Request, id *Identity) {
	ch := formChange(r)
	ch.Template = ""
	ch.Cluster, ch.Namespace, ch.Name = r.PathValue("cluster"), r.PathValue("namespace"), r.PathValue("name")
	s.submit(w, r, id, ch, true)
}

// submit applies the change through git (one at a time), then shows the form again with the
// commit, or with vet's findings (nothing committed).
func (s *Server) submit(w http.ResponseWriter, r *http.Request, id *Identity, ch Change, edit bool) {
	s.commitMu.Lock()
	done, err := s.apply(r.Context(), ch)
	s.commitMu.Unlock()
	if done != nil {
		s.opts.Log.Info("dashboard commit", "user", id.User, "cluster", ch.Cluster, "vm", ch.Namespace+"/"+ch.Name, "commit", done.Hash, "branch", done.Branch)
		s.Refresh(r.Context(), true)
	}
	d := s.formPage(w, r, id, ch, edit)
	d.Done = done
	var ve *VetError
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	switch {
	case errors.As(err, &ve):
		d.Errors = ve.Findings
		w.WriteHeader(http.StatusUnprocessableEntity)
	case err != nil:
		d.Errors = []Finding{{Severity: "error", Rule: "dashboard", Message: err.Error()}}
		w.WriteHeader(http.StatusUnprocessableEntity)
	}
	s.render(w, r, "form", nil, d)
}

// apply commits the change in the working copy: GitDir, or a private clone from Commits.Workspace.
func (s *Server) apply(ctx context.Context, ch Change) (*Committed, error) {
	if s.opts.Commits.Workspace == nil {
		return Apply(s.opts.GitDir, s.opts.Commits, ch)
	}
	dir, auth, cleanup, err := s.opts.Commits.Workspace(ctx, ch.Cluster)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	opts := *s.opts.Commits
	opts.Auth = auth
	done, err := Apply(dir, &opts, ch)
	if err == nil && done.Pushed && opts.AfterCommit != nil {
		opts.AfterCommit(ctx, ch.Cluster)
	}
	return done, err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
