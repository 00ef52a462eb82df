package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/mdtest"
)

// receiverDocBlock returns the first fenced block of lang in the "A
// receiver of your own" section of docs/receivers.md.
func receiverDocBlock(t *testing.T, lang string) string {
	return mdtest.Block(t, "../../docs/receivers.md", "A receiver of your own", lang)
}

// TestReceiverDocPrograms runs the receivers docs/receivers.md gives, as
// written, against `herald dev`: each acknowledges a plain and a gzip
// webhook's deliveries of one event, works on the event once (the second
// is a repeat by X-Webhook-ID), and refuses a forged request.
func TestReceiverDocPrograms(t *testing.T) {
	dev := start(t, "dev", "--ephemeral", "--api-addr", "127.0.0.1:0", "--temporal-port", "0", "--ui-port", "0")
	api := waitFor(t, &dev.out, &dev.err, `API\s+(http://\S+)/api/v1`)
	key := waitFor(t, &dev.out, &dev.err, `API key\s+(hrld_\S+)  \(admin`)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	programs := map[string]func(t *testing.T, dir string) *exec.Cmd{
		"go": func(t *testing.T, dir string) *exec.Cmd {
			goBin, err := exec.LookPath("go")
			if err != nil {
				skipUnlessCI(t, "no go tool")
			}
			must := func(err error) {
				if err != nil {
					t.Fatal(err)
				}
			}
			mod := "module receiverdoc\n\ngo 1.26\n\nrequire github.com/loki-interceptor/herald v0.0.0\n\nreplace github.com/loki-interceptor/herald => " + root + "\n"
			must(os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644))
			sums, err := os.ReadFile(filepath.Join(root, "go.sum"))
			must(err)
			must(os.WriteFile(filepath.Join(dir, "go.sum"), sums, 0o644))
			must(os.WriteFile(filepath.Join(dir, "main.go"), []byte(receiverDocBlock(t, "go")), 0o644))
			build := exec.Command(goBin, "build", "-mod=mod", "-o", "receiver", ".")
			build.Dir = dir
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("the Go receiver of docs/receivers.md does not build: %v\n%s", err, out)
			}
			return exec.Command(filepath.Join(dir, "receiver"))
		},
		"python": func(t *testing.T, dir string) *exec.Cmd {
			python := findPython(t)
			if err := os.WriteFile(filepath.Join(dir, "receiver.py"), []byte(receiverDocBlock(t, "python")), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(python, filepath.Join(dir, "receiver.py"))
			cmd.Env = append(cmd.Env, "PYTHONPATH="+filepath.Join(root, "clients", "python"), "PYTHONDONTWRITEBYTECODE=1")
			return cmd
		},
	}
	for _, lang := range []string{"go", "python"} {
		t.Run(lang, func(t *testing.T) {
			receiveFromDocProgram(t, api, key, lang, programs[lang](t, t.TempDir()))
		})
	}
}

// receiveFromDocProgram runs one documented receiver with the secret of a
// plain webhook and a gzip one pointing at it, publishes an event to both,
// and checks what the program logged.
func receiveFromDocProgram(t *testing.T, api, key, lang string, prog *exec.Cmd) {
	addr := freeAddr(t)
	secret := "whsec_" + strings.Repeat("cmVjZWl2ZXItZG9j", 2) // base64 of 24 bytes, chosen so both webhooks share it
	types := fmt.Sprintf(`"event_types":["compliance.alert"],"secret":%q,"url":"http://%s/hook"`, secret, addr)
	for _, hook := range []string{
		`{"name":"doc receiver ` + lang + `",` + types + `}`,
		`{"name":"doc receiver ` + lang + ` gzip",` + types + `,"metadata":{"compression":"gzip"}}`,
	} {
		if code := call(t, key, "POST", api+"/api/v1/webhooks/", hook, nil); code != 201 {
			t.Fatalf("create webhook: %d", code)
		}
	}
	var out syncBuffer
	prog.Env = append(append(os.Environ(), prog.Env...), "HERALD_WEBHOOK_SECRET="+secret, "ADDR="+addr)
	prog.Stdout, prog.Stderr = &out, &out
	if err := prog.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Process.Signal(syscall.SIGTERM); prog.Wait() })
	listening(t, addr, &out)

	var acc struct {
		EventID string `json:"event_id"`
	}
	if code := call(t, key, "POST", api+"/api/v1/events", `{"event_type":"compliance.alert","source_id":"doc_1","payload":{
		"alert_level":"high","alert_type":"doc_receiver","message":"from `+lang+`"}}`, &acc); code != 202 {
		t.Fatalf("publish: %d", code)
	}
	// Both webhooks' deliveries are acknowledged; the second, with the
	// same X-Webhook-ID, is a repeat the receiver drops.
	var ev struct {
		SuccessfulDeliveries int `json:"successful_deliveries"`
	}
	for deadline := time.Now().Add(30 * time.Second); ev.SuccessfulDeliveries != 2 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		call(t, key, "GET", api+"/api/v1/events/"+acc.EventID, "", &ev)
	}
	if ev.SuccessfulDeliveries != 2 {
		t.Fatalf("the %s receiver acknowledged %d of the 2 deliveries:\n%s", lang, ev.SuccessfulDeliveries, out.String())
	}
	waitFor(t, &out, &out, `received compliance.alert `+acc.EventID+` {"alert_level": ?"high", ?"alert_type": ?"doc_receiver", ?"message": ?"from `+lang+`"}`)
	if n := strings.Count(out.String(), "received "); n != 1 {
		t.Fatalf("the %s receiver worked on %d events, want 1 (the second delivery is a repeat):\n%s", lang, n, out.String())
	}
	forged, _ := http.NewRequest("POST", "http://"+addr+"/hook", strings.NewReader(`{"event_type":"compliance.alert"}`))
	forged.Header.Set("X-Webhook-Signature", "sha256=00")
	forged.Header.Set("X-Webhook-ID", "forged")
	if resp, err := http.DefaultClient.Do(forged); err != nil || resp.StatusCode != 401 {
		t.Fatalf("a forged request to the %s receiver: %v %v", lang, resp, err)
	} else {
		resp.Body.Close()
	}
	time.Sleep(100 * time.Millisecond)
	if strings.Count(out.String(), "received ") != 1 {
		t.Fatalf("the %s receiver logged a forged request:\n%s", lang, out.String())
	}
}

// listening waits until something accepts connections on addr.
func listening(t *testing.T, addr string, out fmt.Stringer) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listens on %s; the program printed:\n%s", addr, out)
}
