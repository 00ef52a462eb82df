package worker_test

import (
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/loki-interceptor/herald/worker"
)

func TestCompressionOnlyOffThisMachine(t *testing.T) {
	for _, tc := range []struct {
		hostPort string
		gzip     bool
	}{
		{"127.0.0.1:7233", false},
		{"[::1]:7233", false},
		{"localhost:7233", false},
		{"127.0.0.5:7233", false},
		{"temporal.internal:7233", true},
		{"10.0.0.7:7233", true},
		{"my-ns.a1b2c.tmprl.cloud:7233", true},
	} {
		_, gzip := worker.Compression(tc.hostPort).(*client.GrpcCompressionGzip)
		if gzip != tc.gzip {
			t.Errorf("%s: gzip %v, want %v", tc.hostPort, gzip, tc.gzip)
		}
	}
}
