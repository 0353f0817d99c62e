package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmo-cue/vmo-cue/internal/diag"
	"github.com/vmo-cue/vmo-cue/internal/evalworker/wire"
	"github.com/vmo-cue/vmo-cue/reconciler"
)

// The agent evaluates each new revision in a child process, `vmo-cue eval-worker` (internal/evalworker:
// the controller's worker, here asked for one cluster): the long-lived agent never runs CUE, so
// neither the evaluator's heap nor its code stays resident between revisions, and the agent's own
// binary (cmd/vmo-cue-agent) does not even link it. The messages and the files' names are package
// wire's (internal/evalworker/wire), which the worker writes with and which links no CUE.

// WorkerCommand is the worker's hidden subcommand of vmo-cue.
const WorkerCommand = wire.Command

// Worker says how to start the evaluation worker.
type Worker struct {
	// Binary is the full vmo-cue executable.
	Binary string
	// Args are its global flags, before the subcommand (--eval-timeout, --eval-memory,
	// --max-file-size: the evaluation's budget).
	Args []string
}

// load renders this cluster at a checkout, in a worker process: evaluated and validated alone, or
// with the whole fleet when it shares a layer-2 domain (the worker's --only). A cluster that does
// not validate yields its findings in the error, at file:line.
func (a *Agent) load(ctx context.Context, dir, revision, commit string) (*target, error) {
	w := a.opts.Worker
	out, err := os.MkdirTemp("", "vmo-cue-eval-")
	if err != nil {
		return nil, fmt.Errorf("evaluation worker: %w", err)
	}
	defer os.RemoveAll(out)
	args := append(append(append([]string{}, w.Args...), WorkerCommand, "--only", a.opts.Cluster, "--out", out), "--", dir)
	cmd := exec.Command(w.Binary, args...)
	// Its own process group, killed as a whole; it dies with the agent.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var stderr tail
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("evaluation worker: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the evaluation worker %s: %w", w.Binary, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := context.AfterFunc(ctx, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	defer func() {
		stop()
		select { // it exits by itself once the header is written
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		// Anything of its group left goes with it.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}()
	failed := func(what string, err error) error {
		select {
		case <-exited:
			err = errors.New(cmd.ProcessState.String())
		case <-time.After(2 * time.Second):
		}
		msg := fmt.Sprintf("evaluation worker (pid %d): %s of revision %s: %v", cmd.Process.Pid, what, revision, err)
		if s := strings.TrimSpace(stderr.String()); s != "" {
			msg += "; its last words: " + s
		}
		return errors.New(msg)
	}
	dec := json.NewDecoder(bufio.NewReaderSize(stdout, 64<<10))
	var h wire.Header
	if err := dec.Decode(&h); err != nil {
		return nil, failed("evaluation", err)
	}
	if h.Error != "" {
		return nil, fmt.Errorf("revision %s: %s", revision, h.Error)
	}
	if len(h.Shared) > 0 {
		return nil, &invalidError{revision: revision, diags: h.Shared.Cap(diag.MaxPerFile, diag.MaxPerRun)}
	}
	t := &target{revision: revision, commit: commit, vms: -1}
	var rollout map[string]any
	if len(h.Rollout) > 0 {
		if err := json.Unmarshal(h.Rollout, &rollout); err != nil {
			return nil, fmt.Errorf("evaluation worker: revision %s: the rollout: %w", revision, err)
		}
	}
	t.health, t.healthTimeout = reconciler.RolloutHealth(rollout)
	for _, c := range h.Clusters {
		if c.Name != a.opts.Cluster {
			continue
		}
		if len(c.Errors) > 0 {
			return nil, &invalidError{revision: revision, diags: c.Errors.Cap(diag.MaxPerFile, diag.MaxPerRun)}
		}
		if c.Unevaluated != "" {
			return nil, fmt.Errorf("revision %s: cluster %s not evaluated: %s", revision, diag.Name(a.opts.Cluster), c.Unevaluated)
		}
		t.vms = c.VMs
	}
	if t.vms < 0 {
		return nil, fmt.Errorf("cluster %s: not in the fleet at %s (no folder %s)", diag.Name(a.opts.Cluster), revision, diag.Name("clusters/"+a.opts.Cluster))
	}
	// The worker rendered the cluster into its file of out (wire.File) and exits.
	select {
	case <-exited:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if !cmd.ProcessState.Success() {
		return nil, failed("rendering", errors.New(cmd.ProcessState.String()))
	}
	d, err := wire.Read(out, a.opts.Cluster)
	var rerr *wire.RenderError
	if errors.As(err, &rerr) {
		return nil, fmt.Errorf("revision %s: rendering cluster %s: %s", revision, diag.Name(a.opts.Cluster), rerr.Message)
	}
	if err != nil {
		return nil, fmt.Errorf("evaluation worker: revision %s: %w", revision, err)
	}
	t.desired = d
	return t, nil
}

// tail keeps the last 2 KiB written to it (the worker's stderr).
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if n := len(t.buf); n > 2<<10 {
		t.buf = append(t.buf[:0], t.buf[n-2<<10:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.ToValidUTF8(string(t.buf), "")
}
