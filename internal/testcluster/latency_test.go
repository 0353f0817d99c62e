package testcluster

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDelayProxy: bytes pass unchanged, each way at least the delay late, and Close ends the
// connections in flight (it returns only once their copies stopped).
func TestDelayProxy(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(line))
				}
			}()
		}
	}()

	const oneWay = 20 * time.Millisecond
	p, err := NewDelayProxy(echo.Addr().String(), oneWay)
	require.NoError(t, err)
	c, err := net.Dial("tcp", p.Addr)
	require.NoError(t, err)
	defer c.Close()
	r := bufio.NewReader(c)
	for _, msg := range []string{"hello\n", "again\n"} {
		start := time.Now()
		_, err = c.Write([]byte(msg))
		require.NoError(t, err)
		got, err := r.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, msg, got)
		assert.GreaterOrEqual(t, time.Since(start), 2*oneWay, "a round trip is at least twice the delay")
	}

	require.NoError(t, p.Close())
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = r.ReadString('\n')
	assert.Error(t, err, "the proxy closed the connection in flight")
}
