package testcluster

import (
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// DelayProxy is a TCP proxy in front of an API server that delays every byte by a fixed time each
// way, as a network between a management host and a remote site does. It is a delay line, not a
// throttle: bytes in flight overlap, so concurrent requests share the latency as they would on a
// real link. TLS passes through untouched (the server's certificate names 127.0.0.1).
type DelayProxy struct {
	Addr     string // host:port to connect to
	listener net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]bool
}

// NewDelayProxy listens on 127.0.0.1 and forwards to target (host:port) with oneWay delay.
func NewDelayProxy(target string, oneWay time.Duration) (*DelayProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("delay proxy: %w", err)
	}
	p := &DelayProxy{Addr: l.Addr().String(), listener: l, conns: map[net.Conn]bool{}}
	p.wg.Go(func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.track(in, out)
			p.wg.Go(func() {
				var both sync.WaitGroup
				both.Go(func() { delayCopy(out, in, oneWay) })
				both.Go(func() { delayCopy(in, out, oneWay) })
				both.Wait()
				p.untrack(in, out)
			})
		}
	})
	return p, nil
}

func (p *DelayProxy) track(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		p.conns[c] = true
	}
}

func (p *DelayProxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Close stops accepting, closes the connections in flight and waits for their copies to end.
func (p *DelayProxy) Close() error {
	err := p.listener.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// Config returns a copy of cfg that talks to the API server through the proxy.
func (p *DelayProxy) Config(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Host = "https://" + p.Addr
	return cfg
}

// Kubeconfig writes to the file to a copy of the kubeconfig at path whose context goes through the
// proxy.
func (p *DelayProxy) Kubeconfig(path, context, to string) error {
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return err
	}
	c, ok := cfg.Contexts[context]
	if !ok {
		return fmt.Errorf("%s: no context %s", path, context)
	}
	cluster, ok := cfg.Clusters[c.Cluster]
	if !ok {
		return fmt.Errorf("%s: context %s names no cluster %s", path, context, c.Cluster)
	}
	u, err := url.Parse(cluster.Server)
	if err != nil {
		return err
	}
	u.Host = p.Addr
	cluster.Server = u.String()
	return clientcmd.WriteToFile(*cfg, to)
}

// delayCopy copies src to dst, each chunk written oneWay after it was read.
func delayCopy(dst, src net.Conn, oneWay time.Duration) {
	type chunk struct {
		due  time.Time
		data []byte
	}
	line := make(chan chunk, 4096)
	go func() {
		defer close(line)
		for {
			buf := make([]byte, 64<<10)
			n, err := src.Read(buf)
			if n > 0 {
				line <- chunk{due: time.Now().Add(oneWay), data: buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range line {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.data); err != nil {
			src.Close() // ends the reader
			dst.Close()
			for range line {
			}
			return
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite() // src said all it had to say
	}
}
