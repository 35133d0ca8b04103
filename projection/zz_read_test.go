package projection_test

import (
	"context"
	"testing"

	"github.com/idemkit/idem/eventstore"
)

func BenchmarkZZRead(b *testing.B) {
	store := source(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.Run("raw", func(b *testing.B) {
		for b.Loop() {
			rawScan(context.Background(), store.DB(), nil)
		}
	})
	b.Run("readall", func(b *testing.B) {
		for b.Loop() {
			n := 0
			for _, err := range store.ReadAll(ctx, eventstore.Start) {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
		}
	})
}
