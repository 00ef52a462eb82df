package store_test

import (
	"testing"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/store/storetest"
)

func TestEventTypeDefinitions(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) { storetest.EventTypeCases(t, s) })
}
