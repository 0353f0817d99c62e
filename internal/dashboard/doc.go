// Package dashboard serves the fleet dashboard (`vmo-cue dashboard`, and the controller's
// --dashboard-bind-address): server-rendered pages (html/template, every value escaped) of the fleet,
// a cluster, a VM and a MAC/VLAN search, with live updates by server-sent events, built from two
// views behind one Source: what git wants (GitView, the fleet repository's working copy evaluated and
// vetted as `vmo-cue vet` does) and what the clusters report (KubeSource reads each cluster through a
// kubeconfig as `vmo-cue status` does; FleetSource reads the controller's Fleet and FleetClusters;
// in the controller, Checkouts gives git's view from the fetched revisions).
// Changes go through git only (commit.go): off unless allowed, vetted before anything is committed.
package dashboard
