package testkit

import (
	"time"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
)

// DefaultAggregateID is the aggregate a scenario works on unless WithAggregateID
// says otherwise; its stream is the decider's Category + "-test".
const DefaultAggregateID = "test"

// DefaultStartTime is where a scenario's clock starts unless WithStartTime says
// otherwise.
var DefaultStartTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Option configures Aggregate.
type Option func(*config)

type config struct {
	aggregateID string
	now         time.Time
	handlerOpts []command.Option
	wrap        func(eventstore.Store) eventstore.Store
}

// WithAggregateID sets the id of the aggregate the scenario's commands address by
// default (a When given a full command.Command may name another).
func WithAggregateID(id string) Option { return func(c *config) { c.aggregateID = id } }

// WithStartTime sets where the scenario's clock starts: the handler's clock and the
// store's RecordedAt stamps. The clock stands still; Scenario.Advance moves it.
func WithStartTime(t time.Time) Option { return func(c *config) { c.now = t } }

// WithHandlerOptions passes options to command.NewHandler, to test a decider with
// the handler configured as in production (WithRecordedRejections,
// WithDedupeWindow, ...). A command.WithClock among them is overridden by the
// scenario's clock.
func WithHandlerOptions(opts ...command.Option) Option {
	return func(c *config) { c.handlerOpts = append(c.handlerOpts, opts...) }
}

// WithStore wraps the scenario's memory store before the handler uses it, for
// instance with faults.Wrap to run the scenario through lost acknowledgements.
// Given steps and the checks of what was written use the memory store itself.
func WithStore(wrap func(eventstore.Store) eventstore.Store) Option {
	return func(c *config) { c.wrap = wrap }
}
