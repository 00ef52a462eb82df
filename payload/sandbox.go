package payload

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"time"
)

// A jq template is a program its subscriber wrote, and gojq checks a
// deadline only between steps: one step (repeating a string, encoding a
// value built of shared parts) can run for minutes and take gigabytes. So
// templates run in child processes of Herald's own binary, each limited in
// memory and killed when a render's time is up.

// sandboxEnv marks a child started to run templates.
const sandboxEnv = "HERALD_TEMPLATE_SANDBOX"

// SandboxMemory bounds a template child's address space.
const SandboxMemory = 2 << 30

// init turns a process started as a template child into one, before
// anything else of the program runs: every binary that renders templates
// (herald, its tests, the benchmark) can start its own children.
func init() {
	if os.Getenv(sandboxEnv) == "1" {
		os.Exit(serveTemplates(stdin(), os.Stdout))
	}
}

// renderRequest is what a child is asked: run template on the envelope
// doc, and add the raw payload when Raw is set.
type renderRequest struct {
	Template string
	Doc      []byte
	Raw      *string
}

// A request goes as three fields, each a length and its bytes: the
// template, the document and the raw payload (noRaw when there is none).
// The document is copied as it is, neither encoded nor checked on the way.
const noRaw = math.MaxUint32

// maxField bounds a request's field: a child never allocates more for one
// because of a stream it cannot parse.
const maxField uint32 = 64 << 20

func writeRequest(w *bufio.Writer, req renderRequest) error {
	writeLength(w, len(req.Template))
	w.WriteString(req.Template)
	writeLength(w, len(req.Doc))
	w.Write(req.Doc)
	if req.Raw == nil {
		writeLength(w, noRaw)
	} else {
		writeLength(w, len(*req.Raw))
		w.WriteString(*req.Raw)
	}
	return w.Flush()
}

func writeLength(w *bufio.Writer, n int) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(n))
	w.Write(b[:])
}

func readRequest(r *bufio.Reader) (renderRequest, error) {
	var req renderRequest
	tpl, _, err := readField(r, maxField)
	if err != nil {
		return req, err
	}
	if req.Doc, _, err = readField(r, maxField); err != nil {
		return req, err
	}
	raw, present, err := readField(r, maxField)
	if err != nil {
		return req, err
	}
	req.Template = string(tpl)
	if present {
		s := string(raw)
		req.Raw = &s
	}
	return req, nil
}

// readField reads one field of at most limit bytes; present is false for
// noRaw.
func readField(r *bufio.Reader, limit uint32) (b []byte, present bool, err error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, false, err
	}
	n := binary.BigEndian.Uint32(head[:])
	switch {
	case n == noRaw:
		return nil, false, nil
	case n > limit:
		return nil, false, fmt.Errorf("a field of %d bytes, over its limit of %d", n, limit)
	}
	b = make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, true, err
}

// A child's answer is a frame: one status byte, a length, then the body
// (frameBody) or the reason the template failed (frameFailed).
const (
	frameBody   = 'b'
	frameFailed = 'f'
	frameReady  = 'r'
)

// serveTemplates is a child's life: it renders requests from in, one at a
// time, until in closes.
func serveTemplates(in io.Reader, out io.Writer) int {
	runtime.GOMAXPROCS(1)
	limitMemory(SandboxMemory)
	w := bufio.NewWriter(out)
	if writeFrame(w, frameReady, nil) != nil {
		return 1
	}
	r := bufio.NewReader(in)
	for {
		req, err := readRequest(r)
		if err != nil {
			return 0 // the parent closed our input, or is gone
		}
		body, err := renderHere(req)
		if err != nil {
			err = writeFrame(w, frameFailed, []byte(err.Error()))
		} else {
			err = writeFrame(w, frameBody, body)
		}
		if err != nil {
			return 1
		}
	}
}

func writeFrame(w *bufio.Writer, kind byte, b []byte) error {
	w.WriteByte(kind)
	writeLength(w, len(b))
	w.Write(b)
	return w.Flush()
}

// renderHere runs a template in this process, without a time bound: only
// a child calls it.
func renderHere(req renderRequest) ([]byte, error) {
	p, err := compile(req.Template)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(req.Doc))
	dec.UseNumber() // numbers as written, as in Document
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	iter := p.code.Run(doc)
	v, ok := iter.Next()
	if !ok {
		return nil, errors.New("the template made no value (jq's empty)")
	}
	if err, isErr := v.(error); isErr {
		return nil, fmt.Errorf("the template failed: %v", err)
	}
	if _, more := iter.Next(); more {
		return nil, errors.New("the template made more than one value; wrap it in [...] to send a list")
	}
	if req.Raw != nil {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("include_raw_payload needs the template to make a JSON object, and it made %s", kind(v))
		}
		obj[RawPayloadKey] = *req.Raw
	}
	if n := leastSize(v, MaxBodyBytes); n > MaxBodyBytes {
		return nil, fmt.Errorf("the body would be over %d bytes; the limit is %d", n, MaxBodyBytes)
	}
	return encodeWithin(v)
}

// leastSize is at most the length of v encoded, counted until it passes
// limit: a value of shared parts can stand for more bytes than the
// machine has, and is refused without encoding it.
func leastSize(v any, limit int) int {
	switch v := v.(type) {
	case string:
		return len(v) + 2
	case map[string]any:
		n := 2
		for k, e := range v {
			if n += len(k) + 4 + leastSize(e, limit-n); n > limit {
				break
			}
		}
		return n
	case []any:
		n := 2
		for _, e := range v {
			if n += 1 + leastSize(e, limit-n); n > limit {
				break
			}
		}
		return n
	}
	return 1
}

// sandbox runs templates in children, reusing idle ones. Rendering is
// work for a core, so there are at most as many children as cores; each
// holds 60-90 MB, most of it this binary's pages.
type sandbox struct {
	slots chan struct{} // one per child that may run at once
	mu    sync.Mutex
	idle  []*child
}

var templates = &sandbox{slots: make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))}

// child is one template process and the pipes to it.
type child struct {
	cmd *exec.Cmd
	in  *os.File
	out *os.File
	w   *bufio.Writer
	r   *bufio.Reader
}

// render runs one request in a child within RenderTimeout, or what is left
// of ctx if less. A child that runs out of time, or of memory, is killed
// and replaced by the next render.
func (s *sandbox) render(ctx context.Context, req renderRequest) ([]byte, error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %v", ErrRenderTimeout, context.Cause(ctx))
	}
	defer func() { <-s.slots }()
	for range 2 { // a child found dead is replaced once
		c, err := s.take()
		if err != nil {
			return nil, fmt.Errorf("%w: cannot start a process for templates: %v", ErrRenderTimeout, err)
		}
		body, err := c.render(ctx, req)
		if err == nil || errors.Is(err, ErrRender) && !errors.Is(err, errChildDied) {
			s.put(c)
			return body, err
		}
		c.kill()
		if !errors.Is(err, errChildGone) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: %v", ErrRenderTimeout, errChildGone)
}

func (s *sandbox) take() (*child, error) {
	s.mu.Lock()
	if n := len(s.idle); n > 0 {
		c := s.idle[n-1]
		s.idle = s.idle[:n-1]
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	return startChild()
}

func (s *sandbox) put(c *child) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idle = append(s.idle, c)
}

// startChild starts a template process of this binary and waits until it
// is ready, so that starting one never counts against a render's time.
func startChild() (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Args[0] = "herald-templates"      // what ps shows
	cmd.Env = []string{sandboxEnv + "=1"} // none of the parent's secrets
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout = inR, outW
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	c := &child{cmd: cmd, in: inW, out: outR, w: bufio.NewWriter(inW), r: bufio.NewReader(newPollingReader(outR))}
	c.out.SetReadDeadline(time.Now().Add(startTimeout))
	if kind, _, err := c.read(); err != nil || kind != frameReady {
		c.kill()
		return nil, fmt.Errorf("it did not report ready: %v", err)
	}
	return c, nil
}

// startTimeout bounds how long a new child may take to start.
const startTimeout = 30 * time.Second

// render sends a request and reads the answer by the deadline. A template
// that fails is ErrRender, and the child stays usable; anything else (its
// time is up, the child died) leaves the child to be killed.
func (c *child) render(ctx context.Context, req renderRequest) ([]byte, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, RenderTimeout, errTemplateTime)
	defer cancel()
	deadline, _ := ctx.Deadline()
	c.in.SetWriteDeadline(deadline)
	c.out.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() {
		c.in.SetWriteDeadline(time.Now())
		c.out.SetReadDeadline(time.Now())
	})
	defer stop()
	if err := writeRequest(c.w, req); err != nil {
		return nil, fmt.Errorf("%w: %v", errChildGone, err)
	}
	kind, b, err := c.read()
	if err != nil {
		return nil, c.failed(ctx, err)
	}
	if kind != frameBody {
		return nil, fmt.Errorf("%w: %s", ErrRender, b)
	}
	return b, nil
}

// failed says why a child did not answer: the render's time was up, the
// caller gave up, or the child died, which a template that takes more
// memory than SandboxMemory makes it do.
func (c *child) failed(ctx context.Context, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		<-ctx.Done() // the pipes' deadline is ctx's, or ctx has ended
	}
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errTemplateTime):
		return fmt.Errorf("%w: the template ran longer than %v", ErrRenderTimeout, RenderTimeout)
	case cause != nil:
		return fmt.Errorf("%w: %v", ErrRenderTimeout, cause)
	}
	return fmt.Errorf("%w: %w (a template may use at most %d MiB): %v", ErrRender, errChildDied, SandboxMemory>>20, err)
}

func (c *child) read() (byte, []byte, error) {
	kind, err := c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	// The child bounds its answers; the parent checks, since it is not the child.
	b, present, err := readField(c.r, MaxBodyBytes)
	if err == nil && !present {
		err = errors.New("an answer without a length")
	}
	return kind, b, err
}

// errChildDied is a child that ended while rendering.
var errChildDied = errors.New("the template's process ended")

// errChildGone is a child that could not be asked: it died while idle.
var errChildGone = errors.New("the template process is gone")

func (c *child) kill() {
	c.cmd.Process.Kill()
	c.in.Close()
	c.out.Close()
	go c.cmd.Wait() // reaps the process; nothing waits for it
}
