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

func BenchmarkZZBatch(b *testing.B) {
	store := source(b)
	ctx := context.Background()
	for _, size := range []int{256, 1024, 4096, 16384} {
		for _, p := range []func(int) projection.SQL{counting, rowPerEvent} {
			best := time.Hour
			for range 3 {
				db, _ := projection.OpenDB(filepath.Join(b.TempDir(), "rm.db"))
				r, _ := projection.NewRunner(store, db, projection.Options{CatchUpBatchSize: size, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				r.AddSQL(p(1))
				start := time.Now()
				r.CatchUp(ctx)
				best = min(best, time.Since(start))
				db.Close()
			}
			b.Logf("batch %5d %-6s %v", size, p(1).Name, best)
		}
	}
}
