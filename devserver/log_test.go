package devserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.temporal.io/server/common/log/tag"
)

func TestServerErrorsOfAbandonedRequestsAreWarnings(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{context.Canceled, "level=WARN"},
		{fmt.Errorf("update-wf-execution: %w", context.Canceled), "level=WARN"},
		{errors.New("context canceled"), "level=WARN"}, // as it arrives from another process
		{errors.New("database is locked"), "level=ERROR"},
		{context.DeadlineExceeded, "level=ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			var out bytes.Buffer
			level := &slog.LevelVar{}
			level.Set(slog.LevelWarn)
			a := newLogAdapter(slog.New(slog.NewTextHandler(&out, nil)), level)
			a.Error("Update workflow execution operation failed.", tag.Error(tt.err))
			if !strings.Contains(out.String(), tt.want) {
				t.Fatalf("logged %q, want %s", out.String(), tt.want)
			}
		})
	}
}
