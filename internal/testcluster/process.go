package testcluster

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// process is one child (etcd or a kube-apiserver). It runs in its own process group, so that Stop
// kills it and anything it started, and it gets SIGKILL from the kernel if its parent dies.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the child has been reaped
	waitErr error         // set before done is closed
}

// ProcessInfo identifies a child process started by the harness. Pid is also its process group id.
type ProcessInfo struct {
	Name string // "etcd" or "kube-apiserver/<cluster>"
	Pid  int
	Log  string // path of its combined stdout/stderr
}

func startProcess(name, bin string, args []string, logPath string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own copy of the descriptor
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // own process group: Stop kills the whole group
		Pdeathsig: syscall.SIGKILL, // dies with the process that started it, even on SIGKILL or a crash
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// childEnv is the environment of the children: the caller's, minus anything that would point them
// at a real cluster or proxy loopback traffic.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "KUBECONFIG", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "ETCDCTL_API":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "NO_PROXY=127.0.0.1,localhost")
}

func (p *process) info() ProcessInfo {
	return ProcessInfo{Name: p.name, Pid: p.cmd.Process.Pid, Log: p.logPath}
}

// exited reports whether the child has ended, with how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// stop kills the process group (SIGKILL: the state is thrown away). It returns once the child has
// been reaped and nothing is left in its process group.
func (p *process) stop() {
	pgid := p.cmd.Process.Pid
	// Kill the group even if the leader is gone: anything it forked shares the group.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
	for i := 0; i < 100 && groupAlive(pgid); i++ {
		time.Sleep(20 * time.Millisecond)
	}
}

// groupAlive reports whether any process is left in the process group.
func groupAlive(pgid int) bool {
	return !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}

// logTail returns the last lines of the child's log, for error messages. The children are never
// given secrets on their command line, and do not log the content of the token file.
func (p *process) logTail(lines int) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	data = bytes.TrimRight(data, "\n")
	parts := bytes.Split(data, []byte("\n"))
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return string(bytes.Join(parts, []byte("\n")))
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. The listeners are held until all are
// chosen, so the ports are distinct; another program could still take one before a child binds it,
// which StartProcesses handles by retrying.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
