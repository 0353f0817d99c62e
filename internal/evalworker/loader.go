package evalworker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmo-cue/vmo-cue/internal/engine"
	"github.com/vmo-cue/vmo-cue/reconciler/fleet"
)

// Options configure the worker processes a Loader starts.
type Options struct {
	// Binary is the vmo-cue executable (the controller's own: os.Executable).
	Binary string
	// Args are flags of the worker command line, before the directory (--eval-timeout,
	// --eval-memory, --max-file-size: the worker's own budget).
	Args []string
	// Deadline bounds the evaluation, from the start until the header (0: only the context's).
	Deadline time.Duration
	// Batch is how many clusters the worker evaluates at a time (0: the fleet at once; see Serve).
	Batch int
	// CacheDir, with Key, keeps the last evaluation: a load of the same Key (the revision), options
	// and binary reads it back instead of starting a worker. Empty: nothing is kept.
	CacheDir string
	// Key names what is loaded: the revision (its commit), whose checkout is the loaded directory.
	Key string
	// MaxRSS kills the worker when its resident memory exceeds it, in bytes (0: no bound).
	MaxRSS uint64
	// MemoryLimit is the worker's GOMEMLIMIT, in bytes (0: the one it inherits).
	MemoryLimit uint64
	// Env is added to the worker's environment (the controller's).
	Env []string
	// Observe, if set, is told about each worker when it has ended.
	Observe func(Stats)
}

// Stats are one worker's figures.
type Stats struct {
	PID int
	// PeakRSS is the highest resident memory seen (sampled, and VmHWM before it ended), in bytes.
	PeakRSS uint64
	// Evaluated is the time until the header, Took the worker's whole life.
	Evaluated, Took time.Duration
	// Killed says why the worker was killed ("" if it ended by itself).
	Killed string
	// Rounds is how many times the worker evaluated the fleet (wire.Header's Rounds).
	Rounds int
	// Reused: no worker ran, the evaluation kept for the same revision was read back (Options.Key).
	Reused bool
}

// sampleEvery is how often a worker's memory is sampled.
const sampleEvery = 50 * time.Millisecond

// Loader is a fleet.Loader that loads each revision in a worker process (`vmo-cue eval-worker`): the
// process evaluates and validates every cluster (in batches, Options.Batch), writes each cluster's
// desired state to a file, sends the header and exits, so that no worker lives while the rollout
// runs. The worker is killed (its process group) when the context ends, past the deadline, or over
// MaxRSS. The rollout reads one cluster's objects at a time from its file. With CacheDir and Key, the
// evaluation is kept (the last one of the directory) and a load of the same revision reads it back
// without a worker; otherwise its files go with Close.
func Loader(o Options) fleet.Loader {
	return func(ctx context.Context, dir string) (*fleet.Loaded, error) {
		key, err := o.cacheKey()
		if err != nil {
			return nil, err
		}
		if key != "" {
			if l, err := open(filepath.Join(o.CacheDir, key)); err == nil {
				if o.Observe != nil {
					o.Observe(Stats{Reused: true})
				}
				return l, nil
			}
		}
		base := o.CacheDir
		if base == "" {
			base = os.TempDir()
		} else if err := os.MkdirAll(base, 0o700); err != nil {
			return nil, fmt.Errorf("evaluation worker: %w", err)
		}
		out, err := os.MkdirTemp(base, ".tmp-")
		if err != nil {
			return nil, fmt.Errorf("evaluation worker: %w", err)
		}
		h, err := run(ctx, o, dir, out)
		if err != nil {
			_ = os.RemoveAll(out)
			return nil, err
		}
		if key != "" && cacheable(h) {
			if err := keep(o.CacheDir, key, out, h); err != nil {
				_ = os.RemoveAll(out)
				return nil, err
			}
			return loaded(h, filepath.Join(o.CacheDir, key), nil)
		}
		return loaded(h, out, func() error { return os.RemoveAll(out) })
	}
}

// run starts a worker that writes its renders to out, and returns its header; the worker is gone.
// The caller's free memory goes back to the system first: while the worker runs, the pod holds
// both processes, and what the caller's heap freed since its last pass (a git fetch, the previous
// rollout's objects) would otherwise stay resident beside the worker.
func run(ctx context.Context, o Options, dir, out string) (*header, error) {
	debug.FreeOSMemory()
	w, err := start(ctx, o, dir, out)
	if err != nil {
		return nil, err
	}
	return w.load()
}

// worker is one running worker process.
type worker struct {
	o     Options
	cmd   *exec.Cmd
	in    io.WriteCloser
	dec   *json.Decoder
	start time.Time
	// exited is closed when the process has been waited for.
	exited chan struct{}
	stderr tailBuffer

	// mu serialises requests (one answer at a time on the pipe).
	mu sync.Mutex

	kmu       sync.Mutex
	killed    string
	peak      uint64
	evaluated time.Duration
	rounds    int
	closeOnce sync.Once
	stopWatch chan struct{}
	watchDone chan struct{}
}

func start(ctx context.Context, o Options, dir, out string) (*worker, error) {
	args := append(append([]string{Command}, o.Args...), "--out", out, "--batch", strconv.Itoa(o.Batch), "--", dir)
	cmd := exec.Command(o.Binary, args...)
	cmd.Env = append(os.Environ(), o.Env...)
	if o.MemoryLimit > 0 {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+strconv.FormatUint(o.MemoryLimit, 10))
	}
	// Its own process group, killed as a whole; it dies with the controller.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	w := &worker{o: o, cmd: cmd, exited: make(chan struct{}), stopWatch: make(chan struct{}), watchDone: make(chan struct{})}
	cmd.Stderr = &w.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("evaluation worker: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("evaluation worker: %w", err)
	}
	w.in, w.dec = in, json.NewDecoder(bufio.NewReaderSize(stdout, 64<<10))
	w.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the evaluation worker %s: %w", o.Binary, err)
	}
	go func() { _ = cmd.Wait(); close(w.exited) }()
	go w.watch(ctx)
	return w, nil
}

// watch samples the worker's memory and kills it over MaxRSS, past the evaluation deadline, or when
// ctx ends.
func (w *worker) watch(ctx context.Context) {
	defer close(w.watchDone)
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	var deadline <-chan time.Time
	if w.o.Deadline > 0 {
		t := time.NewTimer(w.o.Deadline)
		defer t.Stop()
		deadline = t.C
	}
	for {
		select {
		case <-w.exited:
			return
		case <-w.stopWatch:
			return
		case <-ctx.Done():
			w.kill(fmt.Sprintf("the reconciliation ended (%v)", context.Cause(ctx)))
			return
		case <-deadline:
			w.kmu.Lock()
			evaluating := w.evaluated == 0
			w.kmu.Unlock()
			if evaluating {
				w.kill(fmt.Sprintf("its evaluation ran past the deadline of %s", w.o.Deadline))
				return
			}
		case <-tick.C:
			rss := w.sample()
			if w.o.MaxRSS > 0 && rss > w.o.MaxRSS {
				w.kill(fmt.Sprintf("its resident memory reached %s, over the limit of %s", engine.Bytes(rss), engine.Bytes(w.o.MaxRSS)))
				return
			}
		}
	}
}

// sample reads the worker's resident memory and records its peak.
func (w *worker) sample() uint64 {
	rss, hwm := procMemory(w.cmd.Process.Pid)
	w.kmu.Lock()
	w.peak = max(w.peak, rss, hwm)
	w.kmu.Unlock()
	return rss
}

// kill ends the worker's process group at once, saying why (the first reason wins).
func (w *worker) kill(why string) {
	w.kmu.Lock()
	if w.killed == "" && why != "" {
		w.killed = why
	}
	w.kmu.Unlock()
	_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
}

// failure is the error of a worker that ended or broke the protocol: why it was killed, or how it
// ended, with the end of what it wrote to stderr.
func (w *worker) failure(what string, err error) error {
	exited := false
	select {
	case <-w.exited:
		exited = true
	case <-time.After(2 * time.Second):
	}
	w.kmu.Lock()
	killed := w.killed
	w.kmu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "evaluation worker (pid %d): %s: ", w.cmd.Process.Pid, what)
	switch {
	case killed != "":
		b.WriteString("killed: " + killed)
	case exited:
		b.WriteString(w.cmd.ProcessState.String())
	default:
		b.WriteString(err.Error())
	}
	if s := strings.TrimSpace(w.stderr.String()); s != "" {
		b.WriteString("; its last words: " + s)
	}
	return errors.New(b.String())
}

// load reads the header; the worker, done, is waited for.
func (w *worker) load() (*header, error) {
	var h header
	if err := w.dec.Decode(&h); err != nil {
		err = w.failure("evaluating the revision", err)
		w.close()
		return nil, err
	}
	w.kmu.Lock()
	w.evaluated, w.rounds = time.Since(w.start), h.Rounds
	w.kmu.Unlock()
	w.close()
	if h.Error != "" {
		return nil, errors.New(h.Error)
	}
	return &h, nil
}

// close ends the worker: its input closes (it exits by itself), and its process group is killed if
// it has not exited within 5 s, or at once if anything of the group is left. It reports the worker's
// figures to Observe.
func (w *worker) close() error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		_ = w.in.Close()
		w.mu.Unlock()
		select {
		case <-w.exited:
		case <-time.After(5 * time.Second):
			w.kill("it did not exit within 5 s of its input's end")
			<-w.exited
		}
		close(w.stopWatch)
		<-w.watchDone
		// Anything the worker started is in its group: nothing outlives it.
		_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		if w.o.Observe != nil {
			w.kmu.Lock()
			st := Stats{PID: w.cmd.Process.Pid, PeakRSS: w.peak, Evaluated: w.evaluated, Rounds: w.rounds, Took: time.Since(w.start), Killed: w.killed}
			w.kmu.Unlock()
			if u, ok := w.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				// ru_maxrss (KiB): the largest resident set of the worker's life, re-executions included.
				st.PeakRSS = max(st.PeakRSS, uint64(u.Maxrss)<<10)
			}
			w.o.Observe(st)
		}
	})
	return nil
}

// procMemory reads VmRSS and VmHWM of a process, in bytes (0 when it is gone).
func procMemory(pid int) (rss, hwm uint64) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rss = kB(v)
		} else if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			hwm = kB(v)
		}
	}
	return rss, hwm
}

func kB(v string) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
	return n << 10
}

// tailBuffer keeps the last 2 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 2 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.ToValidUTF8(string(t.buf), "")
}
