package devserver

import (
	"testing"
	"time"

	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
)

// The server reads its settings through its own collection, which logs a
// value of the wrong type and falls back to the default: read them back
// the same way.
func TestHistoryCacheIsBoundedAndEvictsByAge(t *testing.T) {
	c := dynamicconfig.NewCollection(dynamicConfig(), log.NewNoopLogger())
	c.Start()
	defer c.Stop()
	if dynamicconfig.HistoryCacheSizeBasedLimit.Get(c)() {
		t.Error("history cache limited by size, which races in Temporal v1.32; want by entry count")
	}
	if got := dynamicconfig.HistoryCacheHostLevelMaxSize.Get(c)(); got != historyCacheRuns {
		t.Errorf("history cache holds %d runs, want %d", got, historyCacheRuns)
	}
	if got := dynamicconfig.HistoryCacheTTL.Get(c)(); got != 10*time.Minute {
		t.Errorf("history cache TTL %s, want 10m", got)
	}
	if got := dynamicconfig.HistoryCacheBackgroundEvict.Get(c)(); !got.Enabled || got.LoopInterval != time.Minute || got.MaxEntryPerCall != 1024 {
		t.Errorf("background eviction %+v, want enabled every minute", got)
	}
	if got := dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Get(c)("default"); got != 100 {
		t.Errorf("visibility RPS %d, want 100", got)
	}
}
