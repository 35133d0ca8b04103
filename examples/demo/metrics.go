package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/idemkit/idem/examples/demo/internal/demo"
)

// serveMetrics starts serving the run's metrics at addr ("" for none) and
// returns the server for Config.Metrics, and what to call once the report is
// printed: it keeps serving the final figures for linger, or until interrupted
// when linger is 0, then stops the server.
func serveMetrics(addr string, linger time.Duration) (*demo.MetricsServer, func(ctx context.Context), error) {
	if addr == "" {
		return nil, func(context.Context) {}, nil
	}
	srv, err := demo.ServeMetrics(addr)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(os.Stderr, "idem demo: metrics at %s\n", srv.URL())
	return srv, func(ctx context.Context) {
		if linger > 0 {
			fmt.Fprintf(os.Stderr, "idem demo: the final metrics stay at %s for %s\n", srv.URL(), linger)
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, linger)
			defer cancel()
		} else {
			fmt.Fprintf(os.Stderr, "idem demo: the final metrics stay at %s until interrupted (Ctrl-C)\n", srv.URL())
		}
		<-ctx.Done()
		if err := srv.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		}
	}, nil
}
