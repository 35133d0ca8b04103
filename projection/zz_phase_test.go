package projection_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/idemkit/idem/projection"
)

func BenchmarkZZPhases(b *testing.B) {
	store := source(b)
	ctx := context.Background()
	for b.Loop() {
		db, _ := projection.OpenDB(filepath.Join(b.TempDir(), "rm.db"))
		start := time.Now()
		var first time.Duration
		r, _ := projection.NewRunner(store, db, projection.Options{LagEvery: -1, ProgressEvery: time.Nanosecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Progress: func(p projection.Progress) {
				if first == 0 {
					first = time.Since(start)
				}
			}})
		r.AddSQL(counting(1))
		r.CatchUp(ctx)
		b.Logf("first batch done at %v, total %v", first, time.Since(start))
		db.Close()
	}
}
