package controller_test

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// podMemory samples the memory of a controller process and of its children (its evaluation
// workers) every 50 ms, as a pod's memory is counted: every process's anonymous memory, and the
// pages of files once (the controller and its worker map one binary: its code is resident once).
type podMemory struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu sync.Mutex
	// Peaks in bytes: the pod (sum), the controller's RSS, a worker's RSS.
	pod, ctl, worker uint64
}

func samplePod(pid int) *podMemory {
	m := &podMemory{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				pod, ctl, worker := m.now()
				m.mu.Lock()
				m.pod, m.ctl, m.worker = max(m.pod, pod), max(m.ctl, ctl), max(m.worker, worker)
				m.mu.Unlock()
			}
		}
	}()
	return m
}

// now is the pod's memory, the controller's RSS and its largest child's RSS, in bytes.
func (m *podMemory) now() (pod, ctl, worker uint64) {
	rss, anon := rollup(m.pid)
	ctl, pod = rss, anon
	file := rss - min(rss, anon)
	for _, c := range descendants(m.pid) {
		crss, canon := rollup(c)
		worker = max(worker, crss)
		pod += canon
		file = max(file, crss-min(crss, canon))
	}
	return pod + file, ctl, worker
}

// peaks returns the peaks since the last call and starts afresh.
func (m *podMemory) peaks() (pod, ctl, worker uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pod, ctl, worker = m.pod, m.ctl, m.worker
	m.pod, m.ctl, m.worker = 0, 0, 0
	return pod, ctl, worker
}

func (m *podMemory) close() { close(m.stop); <-m.done }

// rollup reads Rss and Anonymous of /proc/<pid>/smaps_rollup, in bytes (0 when it is gone).
func rollup(pid int) (rss, anon uint64) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "Rss:":
			rss = n << 10
		case "Anonymous:":
			anon = n << 10
		}
	}
	return rss, anon
}

// descendants are the processes whose parent is pid, and theirs.
func descendants(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	for _, e := range entries {
		data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + e.Name() + "/children")
		for _, f := range strings.Fields(string(data)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
				out = append(out, descendants(c)...)
			}
		}
	}
	return out
}
