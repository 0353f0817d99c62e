package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// PageSize is how many clusters the fleet page lists at once (a variable for the benchmark).
var PageSize = 100

// page is what every template gets; each page adds its own fields.
type page struct {
	Title        string
	User         string
	AllowCommits bool
	Git          *GitView
	Read         time.Time
	CSRF         string
	Error        string
	FleetName    string
	GitErr       string
	States       []string
}

var funcs = template.FuncMap{
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"short": func(r string) string {
		if len(r) >= 40 {
			return r[:len(r)-40] + r[len(r)-40:len(r)-28]
		}
		if r == "" {
			return "-"
		}
		return r
	},
}

func (s *Server) base(w http.ResponseWriter, r *http.Request, id *Identity, title string) (*page, *snapshot) {
	snap, _, _ := s.current()
	p := &page{Title: title, Git: snap.Git, Read: snap.Read, FleetName: s.opts.FleetName, GitErr: snap.GitErr, States: States}
	if id != nil {
		p.AllowCommits = s.opts.Commits != nil && id.CanCommit
		if s.opts.Auth != nil {
			p.User = id.User
		}
	}
	return p, snap
}

// render executes a page into a buffer first: a template error is a 500, never half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, base *page, data any) {
	var buf bytes.Buffer
	var v any = base
	if data != nil {
		v = data
	}
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.opts.Log.Error("rendering", "page", name, "err", err)
		http.Error(w, "rendering "+name+" failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

type matrixRow struct {
	Wave, Link string
	Cells      []matrixCell
	Total      int
}

type matrixCell struct {
	State, Link string
	N           int
}

type fleetFilter struct{ State, Wave, Q string }

type fleetData struct {
	*page
	Rows                                  []Row
	Matrix                                []matrixRow
	Waves                                 []string
	Filter                                fleetFilter
	Shown, Matching, Total, VMTotal, Page int
	Pages                                 int
	Prev, Next                            string
}

func filterLink(f fleetFilter, pg int) string {
	v := url.Values{}
	for k, x := range map[string]string{"state": f.State, "wave": f.Wave, "q": f.Q} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if pg > 1 {
		v.Set("page", strconv.Itoa(pg))
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

func (f fleetFilter) match(r *Row) bool {
	if f.State != "" && r.State != f.State {
		return false
	}
	if f.Wave != "" && r.Wave != f.Wave {
		return false
	}
	if f.Q == "" {
		return true
	}
	if k, v, ok := strings.Cut(f.Q, "="); ok {
		return r.Labels[strings.TrimSpace(k)] == strings.TrimSpace(v)
	}
	return strings.Contains(r.Name, f.Q)
}

func (s *Server) fleetPage(w http.ResponseWriter, r *http.Request, id *Identity) {
	base, snap := s.base(w, r, id, "Fleet")
	q := r.URL.Query()
	d := &fleetData{page: base, Waves: snap.Waves, Total: len(snap.Rows), VMTotal: snap.VMs,
		Filter: fleetFilter{State: q.Get("state"), Wave: q.Get("wave"), Q: strings.TrimSpace(q.Get("q"))}}
	counts := map[string]map[string]int{}
	var matching []int
	for i := range snap.Rows {
		row := &snap.Rows[i]
		if counts[row.Wave] == nil {
			counts[row.Wave] = map[string]int{}
		}
		counts[row.Wave][row.State]++
		if d.Filter.match(row) {
			matching = append(matching, i)
		}
	}
	for _, wv := range snap.Waves {
		mr := matrixRow{Wave: wv, Link: filterLink(fleetFilter{Wave: wv}, 1)}
		if wv == "" {
			mr.Wave = "(none)"
		}
		for _, st := range States {
			n := counts[wv][st]
			mr.Total += n
			mr.Cells = append(mr.Cells, matrixCell{State: st, N: n, Link: filterLink(fleetFilter{Wave: wv, State: st}, 1)})
		}
		d.Matrix = append(d.Matrix, mr)
	}
	d.Matching = len(matching)
	d.Pages = (len(matching) + PageSize - 1) / PageSize
	if d.Pages == 0 {
		d.Pages = 1
	}
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = min(max(d.Page, 1), d.Pages)
	lo := (d.Page - 1) * PageSize
	hi := min(lo+PageSize, len(matching))
	for _, i := range matching[lo:hi] {
		d.Rows = append(d.Rows, snap.Rows[i])
	}
	d.Shown = len(d.Rows)
	if d.Page > 1 {
		d.Prev = filterLink(d.Filter, d.Page-1)
	}
	if d.Page < d.Pages {
		d.Next = filterLink(d.Filter, d.Page+1)
	}
	s.render(w, r, "fleet", base, d)
}

// liveOf reads a cluster's live view, reused for LiveTTL.
func (s *Server) liveOf(ctx context.Context, cluster string, g *GitView) *Live {
	s.liveMu.Lock()
	e := s.live[cluster]
	s.liveMu.Unlock()
	if e != nil && time.Since(e.at) < s.opts.LiveTTL {
		return e.live
	}
	l, err := s.opts.Source.Live(ctx, cluster, g)
	if err != nil {
		l = &Live{Message: err.Error(), VMs: map[string]*LiveVM{}}
	}
	s.liveMu.Lock()
	s.live[cluster] = &liveEntry{at: time.Now(), live: l}
	s.liveMu.Unlock()
	return l
}

type vmRow struct {
	*GitVM
	Link, Status, Node string
	Drifted            bool
}

type clusterData struct {
	*page
	Row        Row
	Labels     map[string]string
	Components []Component
	VMs        []vmRow
	Live       *Live
}

func vmLink(cluster, ns, name string) string {
	return "/cluster/" + url.PathEscape(cluster) + "/vm/" + url.PathEscape(ns) + "/" + url.PathEscape(name)
}

func vmDrift(l *Live, ns, name string) []Drift {
	var out []Drift
	for _, d := range l.Drift {
		if d.Kind == "VirtualMachine" && d.Namespace == ns && d.Name == name ||
			d.Kind == "" && strings.Contains(d.ID, "VirtualMachine") && strings.HasSuffix(d.ID, ns+"/"+name) {
			out = append(out, d)
		}
	}
	return out
}

func (s *Server) clusterPage(w http.ResponseWriter, r *http.Request, id *Identity) {
	name := r.PathValue("cluster")
	base, snap := s.base(w, r, id, name)
	row, ok := snap.byName[name]
	gc := snap.Git.Clusters[name]
	if !ok && gc == nil {
		http.NotFound(w, r)
		return
	}
	d := &clusterData{page: base, Live: s.liveOf(r.Context(), name, snap.Git)}
	if row != nil {
		d.Row = *row
	}
	d.Labels = d.Row.Labels
	if gc != nil {
		d.Components = gc.Components
		for _, vm := range gc.VMs {
			vr := vmRow{GitVM: vm, Link: vmLink(name, vm.Namespace, vm.Name), Drifted: len(vmDrift(d.Live, vm.Namespace, vm.Name)) > 0}
			if lv := d.Live.VMs[vm.Namespace+"/"+vm.Name]; lv != nil {
				vr.Status, vr.Node = lv.PrintableStatus, lv.Node
			} else if d.Live.Reachable {
				vr.Status = "not in the cluster"
			}
			d.VMs = append(d.VMs, vr)
		}
	}
	s.render(w, r, "cluster", base, d)
}

type ifaceRow struct {
	Interface
	LiveMAC, IP string
}

type vmData struct {
	*page
	Cluster  string
	VM       *GitVM
	LiveVM   *LiveVM
	Live     *Live
	Drift    []Drift
	Ifaces   []ifaceRow
	EditLink string
}

func (s *Server) findVM(snap *snapshot, cluster, ns, name string) *GitVM {
	gc := snap.Git.Clusters[cluster]
	if gc == nil {
		return nil
	}
	for _, vm := range gc.VMs {
		if vm.Namespace == ns && vm.Name == name {
			return vm
		}
	}
	return nil
}

func (s *Server) vmPage(w http.ResponseWriter, r *http.Request, id *Identity) {
	cluster, ns, name := r.PathValue("cluster"), r.PathValue("namespace"), r.PathValue("name")
	base, snap := s.base(w, r, id, name)
	vm := s.findVM(snap, cluster, ns, name)
	if vm == nil {
		http.Error(w, fmt.Sprintf("VM %s/%s: not in git for cluster %s", ns, name, cluster), http.StatusNotFound)
		return
	}
	d := &vmData{page: base, Cluster: cluster, VM: vm, Live: s.liveOf(r.Context(), cluster, snap.Git), EditLink: vmLink(cluster, ns, name) + "/edit"}
	d.LiveVM = d.Live.VMs[ns+"/"+name]
	d.Drift = vmDrift(d.Live, ns, name)
	for _, i := range vm.Interfaces {
		ir := ifaceRow{Interface: i}
		if d.LiveVM != nil {
			for _, li := range d.LiveVM.Interfaces {
				if li.Name == i.Name {
					ir.LiveMAC, ir.IP = li.MAC, li.IP
				}
			}
		}
		d.Ifaces = append(d.Ifaces, ir)
	}
	s.render(w, r, "vm", base, d)
}

// Hit is an interface a search found.
type Hit struct {
	Cluster, Namespace, VM, Link, Where string
	Iface                               Interface
}

type searchData struct {
	*page
	Q, Describe string
	Hits        []Hit
	Cut         bool
}

// maxHits bounds a search's answer.
const maxHits = 500

// NormalizeMAC writes a MAC lower case with colons.
func NormalizeMAC(s string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "-", ":"))
}

// Search finds interfaces by MAC (whole or a prefix), VLAN ID ("120" or "vlan 120") or network name.
func Search(g *GitView, q string) (hits []Hit, describe string, cut bool) {
	q = strings.TrimSpace(q)
	lq := strings.ToLower(q)
	vlan := -1
	if n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(lq, "vlan"), ":"))); err == nil {
		vlan = n
	}
	mac := NormalizeMAC(q)
	var match func(Interface) bool
	switch {
	case vlan >= 0:
		describe = fmt.Sprintf("on VLAN %d", vlan)
		match = func(i Interface) bool { return i.VLAN == vlan }
	case strings.Count(mac, ":") >= 1:
		describe = "with MAC " + mac
		match = func(i Interface) bool { return i.MAC != "" && strings.HasPrefix(i.MAC, mac) }
	default:
		describe = "on a network named like " + q
		match = func(i Interface) bool { return i.Network != "" && strings.Contains(strings.ToLower(i.Network), lq) }
	}
	var names []string
	for n := range g.Clusters {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, vm := range g.Clusters[n].VMs {
			for _, i := range vm.Interfaces {
				if !match(i) {
					continue
				}
				if len(hits) == maxHits {
					return hits, describe, true
				}
				hits = append(hits, Hit{Cluster: n, Namespace: vm.Namespace, VM: vm.Name, Link: vmLink(n, vm.Namespace, vm.Name), Where: vm.Where(), Iface: i})
			}
		}
	}
	return hits, describe, false
}

func (s *Server) searchPage(w http.ResponseWriter, r *http.Request, id *Identity) {
	base, snap := s.base(w, r, id, "Search")
	d := &searchData{page: base, Q: strings.TrimSpace(r.URL.Query().Get("q"))}
	if d.Q != "" {
		d.Hits, d.Describe, d.Cut = Search(snap.Git, d.Q)
	}
	s.render(w, r, "search", base, d)
}
