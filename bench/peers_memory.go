package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	hgagg "github.com/hallgren/eventsourcing/aggregate"
	hgmem "github.com/hallgren/eventsourcing/eventstore/memory"
	eh "github.com/looplab/eventhorizon"
	ehevents "github.com/looplab/eventhorizon/aggregatestore/events"
	ehcmd "github.com/looplab/eventhorizon/commandhandler/aggregate"
	ehmem "github.com/looplab/eventhorizon/eventstore/memory"
	ehuuid "github.com/looplab/eventhorizon/uuid"
	goesagg "github.com/modernice/goes/aggregate"
	goesrepo "github.com/modernice/goes/aggregate/repository"
	"github.com/modernice/goes/event"
	goesmem "github.com/modernice/goes/event/eventstore"

	"github.com/google/uuid"
)

// memoryPeers are the libraries of the in-memory table, with what each does not
// do, so the comparison is read fairly.
var memoryPeers = []struct{ Name, Label, Lacks string }{
	{"idem", "idem (eventstore/memory + command.Handler)", "— (dedupes commands, G3; checks revisions, G1)"},
	{"hallgren", "hallgren/eventsourcing v0.9.1 (eventstore/memory)", "no command dedupe"},
	{"eventhorizon", "looplab/eventhorizon v0.17.0 (eventstore/memory)", "no command dedupe; memory store only"},
	{"goes", "modernice/goes v0.9.0 (event/eventstore in-memory)", "no command dedupe; memory store only; its memory store scans every event on each load"},
}

// memoryCallers are the caller counts of the in-memory table.
var memoryCallers = []int{1, 16}

func memoryCallerLabels() []string {
	ls := make([]string, len(memoryCallers))
	for i, c := range memoryCallers {
		ls[i] = fmt.Sprintf("%d caller(s), commands/s (p99)", c)
	}
	return ls
}

// memoryCommand sets up a fresh in-memory store with Aggregates aggregates of one
// event each and returns the function that handles one command on aggregate agg.
type memoryCommand func(ctx context.Context, env *Env) (handle func(agg, i int) error, err error)

// memoryPeerWorkloads measure the command loop (load, decide, append) of every
// library on its in-memory store; idem's figure is registered with them.
func memoryPeerWorkloads(cfg Config) []Workload {
	setups := map[string]memoryCommand{
		"idem": idemMemoryCommand, "hallgren": hallgrenMemoryCommand,
		"eventhorizon": eventhorizonMemoryCommand, "goes": goesMemoryCommand,
	}
	var ws []Workload
	for _, p := range memoryPeers {
		for _, c := range memoryCallers {
			setup := setups[p.Name]
			ws = append(ws, Workload{Key: fmt.Sprintf("mem/%s/c%d", p.Name, c), Unit: "cmd/s",
				Note: "in-memory store, distinct aggregates",
				Run: func(ctx context.Context, env *Env) (Sample, error) {
					handle, err := setup(ctx, env)
					if err != nil {
						return Sample{}, err
					}
					return runCommands(env, c, newPicker("distinct", c, env.Aggregates), func(_, agg, i int) (int, error) {
						return 0, handle(agg, i)
					})
				}})
		}
	}
	return ws
}

// seedMemory runs create for each of Aggregates aggregates.
func seedMemory(env *Env, create func(agg int) error) error {
	for a := range env.Aggregates {
		if err := create(a); err != nil {
			return fmt.Errorf("seed aggregate %d: %w", a, err)
		}
	}
	return nil
}

func hallgrenMemoryCommand(ctx context.Context, env *Env) (func(agg, i int) error, error) {
	hgRegister.Do(func() { hgagg.Register(&hgAccount{}) })
	es := hgmem.Create()
	save := func(a *hgAccount, ref string) error {
		hgagg.TrackChange(a, &hgDeposited{Amount: 100, Reference: ref})
		return hgagg.Save(es, a)
	}
	err := seedMemory(env, func(agg int) error {
		a := &hgAccount{}
		if err := a.SetID(streamName(agg)); err != nil {
			return err
		}
		return save(a, "open")
	})
	return func(agg, i int) error {
		a := &hgAccount{}
		if err := hgagg.Load(ctx, es, streamName(agg), a); err != nil {
			return err
		}
		return save(a, fmt.Sprint("ref-", i))
	}, err
}

// eventhorizon model: a command, an event, an aggregate on AggregateBase.
const (
	ehAccountType   eh.AggregateType = "bench-account"
	ehDepositedType eh.EventType     = "Deposited"
)

type ehDeposit struct {
	ID        ehuuid.UUID
	Amount    int
	Reference string
}

func (c *ehDeposit) AggregateID() ehuuid.UUID        { return c.ID }
func (c *ehDeposit) AggregateType() eh.AggregateType { return ehAccountType }
func (c *ehDeposit) CommandType() eh.CommandType     { return "Deposit" }

type ehDepositedData struct {
	Amount    int
	Reference string
}

type ehAccount struct {
	*ehevents.AggregateBase
	balance int
}

func (a *ehAccount) HandleCommand(_ context.Context, cmd eh.Command) error {
	c, ok := cmd.(*ehDeposit)
	if !ok {
		return fmt.Errorf("unexpected command %T", cmd)
	}
	a.AppendEvent(ehDepositedType, &ehDepositedData{Amount: c.Amount, Reference: c.Reference}, time.Now())
	return nil
}

func (a *ehAccount) ApplyEvent(_ context.Context, e eh.Event) error {
	if d, ok := e.Data().(*ehDepositedData); ok {
		a.balance += d.Amount
	}
	return nil
}

var ehRegister sync.Once

func eventhorizonMemoryCommand(ctx context.Context, env *Env) (func(agg, i int) error, error) {
	ehRegister.Do(func() {
		eh.RegisterAggregate(func(id ehuuid.UUID) eh.Aggregate {
			return &ehAccount{AggregateBase: ehevents.NewAggregateBase(ehAccountType, id)}
		})
		eh.RegisterEventData(ehDepositedType, func() eh.EventData { return &ehDepositedData{} })
	})
	store, err := ehmem.NewEventStore()
	if err != nil {
		return nil, err
	}
	aggStore, err := ehevents.NewAggregateStore(store)
	if err != nil {
		return nil, err
	}
	h, err := ehcmd.NewCommandHandler(ehAccountType, aggStore)
	if err != nil {
		return nil, err
	}
	ids := make([]ehuuid.UUID, env.Aggregates)
	err = seedMemory(env, func(agg int) error {
		ids[agg] = ehuuid.New()
		return h.HandleCommand(ctx, &ehDeposit{ID: ids[agg], Amount: 1, Reference: "open"})
	})
	return func(agg, i int) error {
		return h.HandleCommand(ctx, &ehDeposit{ID: ids[agg], Amount: 100, Reference: fmt.Sprint("ref-", i)})
	}, err
}

// goes model: an aggregate on goes' Base with a generic event applier.
type goesDeposited struct {
	Amount    int
	Reference string
}

type goesAccount struct {
	*goesagg.Base
	Balance int
}

func newGoesAccount(id uuid.UUID) *goesAccount {
	a := &goesAccount{Base: goesagg.New("account", id)}
	event.ApplyWith(a, func(e event.Of[goesDeposited]) { a.Balance += e.Data().Amount }, "deposited")
	return a
}

func goesMemoryCommand(ctx context.Context, env *Env) (func(agg, i int) error, error) {
	repo := goesrepo.New(goesmem.New())
	ids := make([]uuid.UUID, env.Aggregates)
	deposit := func(agg int, ref string) error {
		a := newGoesAccount(ids[agg])
		return repo.Use(ctx, a, func() error {
			goesagg.Next(a, "deposited", goesDeposited{Amount: 100, Reference: ref})
			return nil
		})
	}
	err := seedMemory(env, func(agg int) error {
		ids[agg] = uuid.New()
		return deposit(agg, "open")
	})
	return func(agg, i int) error { return deposit(agg, fmt.Sprint("ref-", i)) }, err
}
