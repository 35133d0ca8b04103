package ops

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/projection"
)

// access is how a command opens the store or the read model.
type access uint8

const (
	unused access = iota
	readOnly
	readWrite
)

// needs says what a command opens.
type needs struct {
	store, read access
	// app: the application's runner (the read model must be opened too).
	app bool
	// runnerOpts are passed to the application's RunnerFunc.
	runnerOpts []projection.Option
	// logTo, when set, is where logs go instead of standard error (a progress
	// view, which keeps them off its bar).
	logTo io.Writer
}

// session is what one command opened; Close closes it all.
type session struct {
	store  eventstore.Store
	read   *readModel
	runner appRunner
	closes []func() error
}

// open opens what a command needs, from the global flags.
func (c *config) open(ctx context.Context, cmd *cobra.Command, n needs) (_ *session, err error) {
	s := &session{}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	var logTo io.Writer = cmd.ErrOrStderr()
	if n.logTo != nil {
		logTo = n.logTo
	}
	log := c.logger(logTo)
	if n.store != unused {
		if s.store, err = openStore(ctx, c.store, n.store == readWrite, log); err != nil {
			return nil, err
		}
		s.closes = append(s.closes, s.store.Close)
	}
	if n.read != unused {
		if s.read, err = openReadModel(ctx, c.readPath(), n.read == readWrite); err != nil {
			return nil, err
		}
		s.closes = append(s.closes, s.read.close)
	}
	if n.app {
		if c.app == nil {
			return nil, errors.New("this command runs the application's projection handlers: run it from the application's own binary")
		}
		opts := append([]projection.Option{projection.WithLogger(log)}, n.runnerOpts...)
		r, cleanup, err := c.app.build(ctx, s.store, s.read, opts)
		if err != nil {
			return nil, err
		}
		s.runner = r
		if cleanup != nil {
			s.closes = append(s.closes, func() error { cleanup(); return nil })
		}
	}
	return s, nil
}

// Close closes what the session opened, the last opened first.
func (s *session) Close() error {
	var errs []error
	for i := len(s.closes) - 1; i >= 0; i-- {
		if err := s.closes[i](); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// run opens what n says, runs f with it, and closes it.
func (c *config) run(cmd *cobra.Command, n needs, f func(ctx context.Context, s *session) error) error {
	ctx := cmd.Context()
	s, err := c.open(ctx, cmd, n)
	if err != nil {
		return err
	}
	err = f(ctx, s)
	return errors.Join(err, s.Close())
}
