package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// herald temporal serves its Go runtime and process metrics with
// --metrics-listen, so a soak can watch the embedded server's goroutines
// as it watches the API's and the workers'.
func TestTemporalServesRuntimeMetrics(t *testing.T) {
	metrics := freeAddr(t)
	srv := start(t, "temporal", "--port", "0", "--ui-port", "-1", "--db-file", filepath.Join(t.TempDir(), "t.db"), "--metrics-listen", metrics)
	waitFor(t, &srv.out, &srv.err, `temporal: frontend \S+`)
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, name := range []string{"go_goroutines ", "process_resident_memory_bytes ", "process_open_fds "} {
		if resp.StatusCode != 200 || !strings.Contains(string(body), "\n"+name) {
			t.Fatalf("/metrics answered %d without %q:\n%.2000s", resp.StatusCode, name, body)
		}
	}
}
