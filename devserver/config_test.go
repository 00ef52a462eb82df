package devserver

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"

	"github.com/loki-interceptor/herald/mdtest"
)

// mustCollection reads settings from client the way the server does.
func mustCollection(t *testing.T, client dynamicconfig.Client) *dynamicconfig.Collection {
	t.Helper()
	c := dynamicconfig.NewCollection(client, log.NewNoopLogger())
	c.Start()
	t.Cleanup(c.Stop)
	return c
}

// The server reads its settings through its own collection, which logs a
// value of the wrong type and falls back to the default: read them back
// the same way.
func TestHistoryCacheIsBoundedAndEvictsByAge(t *testing.T) {
	c := mustCollection(t, dynamicConfig())
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

// The dynamic config docs/production.md gives for a Temporal cluster of
// one's own, read by Temporal's own file loader, bounds the workflow cache
// as the embedded server does.
func TestProductionDocsGiveTheEmbeddedCacheSettings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "dynamicconfig.yaml")
	block := mdtest.Block(t, "../docs/production.md", "Temporal's workflow cache", "yaml")
	if err := os.WriteFile(file, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan any)
	t.Cleanup(func() { close(done) })
	fc, err := dynamicconfig.NewFileBasedClient(&dynamicconfig.FileBasedClientConfig{Filepath: file, PollInterval: time.Minute}, log.NewNoopLogger(), done)
	if err != nil {
		t.Fatalf("Temporal cannot load the documented config: %v", err)
	}
	docs, ours := mustCollection(t, fc), mustCollection(t, dynamicConfig())
	for name, get := range map[string]func(*dynamicconfig.Collection) any{
		"size-based limit":    func(c *dynamicconfig.Collection) any { return dynamicconfig.HistoryCacheSizeBasedLimit.Get(c)() },
		"cache size in runs":  func(c *dynamicconfig.Collection) any { return dynamicconfig.HistoryCacheHostLevelMaxSize.Get(c)() },
		"cache TTL":           func(c *dynamicconfig.Collection) any { return dynamicconfig.HistoryCacheTTL.Get(c)() },
		"background eviction": func(c *dynamicconfig.Collection) any { return dynamicconfig.HistoryCacheBackgroundEvict.Get(c)() },
	} {
		if got, want := get(docs), get(ours); got != want {
			t.Errorf("documented %s %+v, embedded %+v", name, got, want)
		}
	}
}
