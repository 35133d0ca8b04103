package brokers

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is a jittered exponential backoff: the k-th wait is a random duration
// in [d/2, d] with d = min(max, min<<k), as the command handler's.
type backoff struct{ min, max time.Duration }

func (b backoff) wait(attempt int) time.Duration {
	d := b.max
	if attempt < 30 && b.min<<attempt < b.max && b.min<<attempt > 0 {
		d = b.min << attempt
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits the attempt's backoff or until ctx ends.
func (b backoff) sleep(ctx context.Context, attempt int) error {
	t := time.NewTimer(b.wait(attempt))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
