package source

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/net/proxy"
)

// go-git dials SSH and runs the SSH handshake without the caller's context, so a server that accepts
// the connection and never speaks would hold a Fetch forever. go-git does take a proxy URL, and x/net's
// proxy package lets a program register its own proxy scheme: the scheme below is a "proxy" that dials
// directly and closes the connection when the Fetch's context ends. It only applies to the Fetches
// that name it (ProxyOptions of their SSH remote), under a scheme no one else uses.
const ctxDialScheme = "vmo-cue-ctx-dial"

var (
	dialCtxs sync.Map // id → context.Context of a running Fetch
	dialSeq  atomic.Uint64
)

func init() {
	proxy.RegisterDialerType(ctxDialScheme, func(u *url.URL, _ proxy.Dialer) (proxy.Dialer, error) {
		v, ok := dialCtxs.Load(u.Host)
		if !ok {
			return nil, errors.New("SSH dial: the fetch is over")
		}
		return &ctxDialer{ctx: v.(context.Context)}, nil
	})
}

// sshDialProxy binds the SSH connections of one Fetch to ctx; call the returned func when done.
func sshDialProxy(ctx context.Context) (transport.ProxyOptions, func()) {
	id := "f" + strconv.FormatUint(dialSeq.Add(1), 10)
	dialCtxs.Store(id, ctx)
	return transport.ProxyOptions{URL: ctxDialScheme + "://" + id}, func() { dialCtxs.Delete(id) }
}

type ctxDialer struct{ ctx context.Context }

func (d *ctxDialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(d.ctx, network, addr)
}

func (d *ctxDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	dialCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopDial := context.AfterFunc(d.ctx, cancel)
	conn, err := nd.DialContext(dialCtx, network, addr)
	stopDial()
	if err != nil {
		return nil, err
	}
	c := &ctxConn{Conn: conn}
	c.stop = context.AfterFunc(d.ctx, func() { _ = conn.Close() })
	return c, nil
}

type ctxConn struct {
	net.Conn
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.stop()
	return c.Conn.Close()
}
