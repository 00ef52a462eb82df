package api

import (
	"io"
	"net"
	"time"
)

// The server answers some requests before reading all of them (a head over
// ReadBufferSize gets its 431 after 8 KiB) and then closes. Closing a TCP
// socket with unread input makes the kernel send a reset, which can reach
// the client before it reads the answer: it then sees "connection reset"
// instead of the 431. Like net/http, close the write side first and read
// what the client still sends for a short while, so the answer arrives.
const (
	lingerFor   = 500 * time.Millisecond
	lingerBytes = 256 << 10
)

// lingerListener hands out connections that linger on close.
type lingerListener struct{ net.Listener }

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok && err == nil {
		return lingerConn{tc}, nil
	}
	return c, err
}

// lingerConn embeds *net.TCPConn so that ReadFrom (sendfile) still applies.
type lingerConn struct{ *net.TCPConn }

// Close returns at once; the drain runs beside the server so that a slow
// client cannot hold a handler or Shutdown.
func (c lingerConn) Close() error {
	if err := c.CloseWrite(); err != nil {
		return c.TCPConn.Close()
	}
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(lingerFor))
		_, _ = io.CopyN(io.Discard, c.TCPConn, lingerBytes)
		_ = c.TCPConn.Close()
	}()
	return nil
}
