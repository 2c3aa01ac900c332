package store_test

import (
	"testing"

	"github.com/tessera-health/tessera/internal/store/storetest"
)

// TestConformance runs the one storage suite on every backend.
func TestConformance(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { storetest.Run(t, b) })
	}
}
