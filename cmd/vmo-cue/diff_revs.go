package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vmo-cue/vmo-cue/internal/preview"
	"github.com/vmo-cue/vmo-cue/internal/source"
)

// revDiffFlags are the flags of `diff --from`: the fleet at two revisions, no cluster.
type revDiffFlags struct {
	from, to, repo, output string
}

func (rf *revDiffFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&rf.from, "from", "", "compare the fleet at this git revision (the base: origin/main, HEAD~1, a hash) ...")
	cmd.Flags().StringVar(&rf.to, "to", "HEAD", "... with the fleet at this revision")
	cmd.Flags().StringVar(&rf.repo, "repo", ".", "the fleet's folder in a git repository (with --from)")
	cmd.Flags().StringVarP(&rf.output, "output", "o", "text", "with --from: text, markdown (a pull-request comment) or json")
}

// runRevDiff renders the fleet at --from and --to, each read from git's object store into a private
// temporary folder (never the work tree, nothing outside the fleet's folder) and loaded as vet loads
// a fleet (fleetfs, the evaluation budget), then compares them cluster by cluster.
// Exit status: 0 nothing changes, 1 something changes (or a cluster is invalid at --to), 2 error.
func runRevDiff(cmd *cobra.Command, g *globalFlags, rf *revDiffFlags, cf *clusterFlags, args []string) error {
	switch {
	case rf.from == "":
		return &exitCode{code: exitError, err: fmt.Errorf("--to needs --from")}
	case len(args) > 0:
		return &exitCode{code: exitError, err: fmt.Errorf("--from compares revisions of --repo: give the folder with --repo, not as an argument")}
	case cf.cluster != "" || cf.kubeconfig != "" || cf.context != "":
		return &exitCode{code: exitError, err: fmt.Errorf("--from compares the whole fleet in git: --cluster, --kubeconfig and --context are for the live diff")}
	case rf.output != "text" && rf.output != "markdown" && rf.output != "json":
		return &exitCode{code: exitError, err: fmt.Errorf("-o %s: want text, markdown or json", rf.output)}
	}
	repo, err := source.OpenLocal(rf.repo)
	if err != nil {
		return &exitCode{code: exitError, err: err}
	}
	revs := make([]preview.Revision, 2)
	for i, rev := range []string{rf.from, rf.to} {
		// A re-run after an evaluation over its budget compares the same commits, whatever the refs
		// point to by then.
		key := fmt.Sprintf("diff-rev-%d", i)
		commit, again := g.rerun.recall(key)
		if !again {
			r, err := repo.Resolve(rev)
			if err != nil {
				return &exitCode{code: exitError, err: err}
			}
			commit = r.Commit
		}
		r, err := repo.Resolve(commit)
		if err != nil {
			return &exitCode{code: exitError, err: err}
		}
		revs[i] = preview.Revision{Rev: rev, Commit: r.Commit, Message: r.Message}
		g.rerun.carry(key, r.Commit)
	}
	tmp, err := os.MkdirTemp("", "vmo-cue-diff-")
	if err != nil {
		return &exitCode{code: exitError, err: err}
	}
	defer os.RemoveAll(tmp)
	var loadedRevs [2]*loaded
	for i, r := range revs {
		dir := filepath.Join(tmp, []string{"from", "to"}[i])
		if err := os.Mkdir(dir, 0o700); err != nil {
			return &exitCode{code: exitError, err: err}
		}
		if err := repo.Checkout(r.Commit, dir); err != nil {
			return &exitCode{code: exitError, err: fmt.Errorf("revision %s: %w", r.Rev, err)}
		}
		if loadedRevs[i], err = g.load(dir); err != nil {
			return err
		}
	}
	rep, err := preview.Compare(revs[0], revs[1], loadedRevs[0].Result, loadedRevs[1].Result)
	if err != nil {
		return &exitCode{code: exitError, err: err}
	}
	out := cmd.OutOrStdout()
	switch rf.output {
	case "json":
		err = rep.WriteJSON(out)
	case "markdown":
		err = rep.WriteMarkdown(out)
	default:
		err = rep.WriteText(out)
	}
	if err != nil {
		return &exitCode{code: exitError, err: err}
	}
	if rep.Changes() {
		return &exitCode{code: exitInvalid}
	}
	return nil
}
