//go:build unix

package payload

import (
	"io"
	"os"
	"syscall"
	"time"
)

// Both ends of a template process's pipes poll for a while before they
// sleep: a render's round trip is two wakes of a sleeping process, and on
// a virtual machine waking an idle core costs more than most templates
// take to run.
const (
	parentPolls = 30 * time.Microsecond // for an answer
	childPolls  = 50 * time.Microsecond // for the next request
)

// pollingReader reads a pipe the runtime waits on, polling it for up to
// parentPolls before it waits; the file's deadlines still hold.
type pollingReader struct{ rc syscall.RawConn }

func newPollingReader(f *os.File) io.Reader {
	rc, err := f.SyscallConn()
	if err != nil {
		return f
	}
	return pollingReader{rc}
}

func (r pollingReader) Read(p []byte) (int, error) {
	var (
		n    int
		rerr error
	)
	start := time.Now()
	err := r.rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = syscall.Read(int(fd), p)
			switch {
			case rerr == syscall.EINTR:
			case rerr != syscall.EAGAIN:
				return true
			case time.Since(start) > parentPolls:
				return false // sleep until the pipe is readable
			default:
				yield()
			}
		}
	})
	return result(n, err, rerr, len(p))
}

func result(n int, err, rerr error, want int) (int, error) {
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, rerr
	case n == 0 && want > 0:
		return 0, io.EOF
	}
	return n, nil
}

// stdinPoller reads a child's standard input, which only it holds: it
// polls for childPolls, then blocks in read. It switches the descriptor's
// mode only when it has to, not on every read.
type stdinPoller struct{ blocking bool }

func stdin() io.Reader {
	if err := syscall.SetNonblock(0, true); err != nil {
		return os.Stdin
	}
	return &stdinPoller{}
}

func (r *stdinPoller) setBlocking(on bool) error {
	if r.blocking == on {
		return nil
	}
	r.blocking = on
	return syscall.SetNonblock(0, !on)
}

func (r *stdinPoller) Read(p []byte) (int, error) {
	start := time.Now()
	if err := r.setBlocking(false); err != nil {
		return 0, err
	}
	for {
		n, err := syscall.Read(0, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN && time.Since(start) <= childPolls:
			yield()
			continue
		case err == syscall.EAGAIN:
			if err := r.setBlocking(true); err != nil {
				return 0, err
			}
			continue
		}
		return result(n, nil, err, len(p))
	}
}
