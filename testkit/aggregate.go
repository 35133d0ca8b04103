package testkit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
)

// Scenario is a given-when-then test of one aggregate, built by Aggregate. Each
// method runs its step at once and returns the scenario, so steps chain. After a
// failed step the rest are skipped. A Scenario is not safe for concurrent use.
type Scenario[S, C, E any] struct {
	t       T
	ctx     context.Context
	decider aggregate.Decider[S, C, E]
	codec   *aggregate.Codec[C, E]
	cfg     config
	store   *memory.Store // what was really written
	handler *command.Handler[S, C, E]
	stream  string

	mu  sync.Mutex // guards now, read by the handler's and the store's clocks
	now time.Time

	steps   int
	givens  int
	whens   int
	pending *when[C] // the last When, until a Then checks it
	last    *when[C]
	failed  bool
}

// when is a When step and what its first delivery did.
type when[C any] struct {
	step   int
	label  string
	cmd    command.Command[C]
	wire   C // the payload as it arrives again: decoded from its encoding
	res    command.Result
	err    error
	before int // events in the log before the step
	after  int // events in the log after the first delivery
}

// Aggregate starts a scenario for decider, whose events and commands are
// registered in codec. It runs the real command.Handler on a fresh memory store
// with a fixed clock (DefaultStartTime), addressing aggregate DefaultAggregateID;
// see the options. A When left without a Then is checked when the test ends.
func Aggregate[S, C, E any](t T, decider aggregate.Decider[S, C, E], codec *aggregate.Codec[C, E], opts ...Option) *Scenario[S, C, E] {
	t.Helper()
	cfg := config{aggregateID: DefaultAggregateID, now: DefaultStartTime}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	s := &Scenario[S, C, E]{t: t, ctx: context.Background(), decider: decider, codec: codec, cfg: cfg, now: cfg.now}
	if c, ok := t.(interface{ Context() context.Context }); ok {
		s.ctx = c.Context()
	}
	st, err := memory.Open(memory.WithClock(s.clock))
	if err != nil {
		s.fail("Aggregate: %v", err)
		st = memory.New()
	}
	s.store = st
	var store eventstore.Store = s.store
	if cfg.wrap != nil {
		store = cfg.wrap(store)
	}
	hopts := append(append([]command.Option(nil), cfg.handlerOpts...), command.WithClock(s.clock))
	t.Cleanup(s.finish)
	h, err := command.NewHandler(store, decider, codec, hopts...)
	if err != nil {
		s.fail("Aggregate: %v", err)
		return s
	}
	s.handler = h
	stream, err := s.handler.Stream(cfg.aggregateID)
	if err != nil {
		s.fail("Aggregate: %v", err)
		return s
	}
	s.stream = stream
	return s
}

func (s *Scenario[S, C, E]) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// Advance moves the scenario's clock forward by d.
func (s *Scenario[S, C, E]) Advance(d time.Duration) *Scenario[S, C, E] {
	s.mu.Lock()
	s.now = s.now.Add(d)
	s.mu.Unlock()
	return s
}

// Store returns the memory store the scenario writes to, for further assertions.
func (s *Scenario[S, C, E]) Store() *memory.Store { return s.store }

// Handler returns the command handler the scenario runs.
func (s *Scenario[S, C, E]) Handler() *command.Handler[S, C, E] { return s.handler }

// Stream returns the stream of the scenario's default aggregate.
func (s *Scenario[S, C, E]) Stream() string { return s.stream }

// Result returns the result and error of the last When's first delivery.
func (s *Scenario[S, C, E]) Result() (command.Result, error) {
	if s.last == nil {
		return command.Result{}, nil
	}
	return s.last.res, s.last.err
}

// State returns the aggregate as loaded from the store now.
func (s *Scenario[S, C, E]) State() (command.Loaded[S], error) {
	if s.handler == nil {
		return command.Loaded[S]{}, fmt.Errorf("testkit: the scenario has no handler")
	}
	return s.handler.Load(s.ctx, s.cfg.aggregateID)
}

func (s *Scenario[S, C, E]) fail(format string, args ...any) {
	s.t.Helper()
	s.failed = true
	s.t.Errorf("testkit: "+format, args...)
}

// finish checks a When left without a Then, at the end of the test.
func (s *Scenario[S, C, E]) finish() {
	s.t.Helper()
	s.closePending()
	s.store.Close()
}

// Given records events in the aggregate's stream as if an earlier command had
// caused them: encoded by the codec, with ids derived like the handler's and the
// handler's metadata (command id "testkit-given-N"), so loading, dedupe and
// fingerprints run as in production. Each event is round-tripped through the codec
// first. Given with no events records nothing.
func (s *Scenario[S, C, E]) Given(events ...E) *Scenario[S, C, E] {
	s.t.Helper()
	s.closePending()
	if s.failed {
		return s
	}
	s.steps++
	s.givens++
	label := fmt.Sprintf("step %d: Given(%s)", s.steps, showList(events))
	for i, e := range events {
		if !s.roundTripEvent(fmt.Sprintf("%s: event #%d", label, i), e) {
			return s
		}
	}
	if len(events) == 0 {
		return s
	}
	stored := make([]storedEvent, len(events))
	for i, e := range events {
		name, body, err := s.codec.EncodeEvent(e)
		if err != nil {
			s.fail("%s: event #%d: %v", label, i, err)
			return s
		}
		stored[i] = storedEvent{name, body}
	}
	s.record(label, stored)
	return s
}

// GivenStored records an event exactly as an older version of the code stored it:
// its type name and data are written as they are, without the codec's encoder, so
// a test can check that the codec's upcasters turn it into today's event (the
// decider sees the upcast event, and Then compares today's types).
func (s *Scenario[S, C, E]) GivenStored(typeName string, data []byte) *Scenario[S, C, E] {
	s.t.Helper()
	s.closePending()
	if s.failed {
		return s
	}
	s.steps++
	s.givens++
	label := fmt.Sprintf("step %d: GivenStored(%s, %s)", s.steps, typeName, data)
	if _, err := s.codec.DecodeEvent(typeName, data); err != nil {
		s.fail("%s: the codec cannot decode it: %v", label, err)
		return s
	}
	s.record(label, []storedEvent{{typeName, data}})
	return s
}

// storedEvent is an event as a Given step stores it.
type storedEvent struct {
	typ  string
	data []byte
}

// record appends events to the scenario's stream as one earlier command's.
func (s *Scenario[S, C, E]) record(label string, events []storedEvent) {
	s.t.Helper()
	cmdID := "testkit-given-" + strconv.Itoa(s.givens)
	sum := sha256.Sum256([]byte(cmdID))
	meta := command.Metadata{CommandID: cmdID, Fingerprint: hex.EncodeToString(sum[:]), CommandType: "testkit.Given", Count: len(events)}
	data := make([]eventstore.EventData, len(events))
	for i, e := range events {
		meta.Index = i
		data[i] = eventstore.EventData{ID: command.EventID(s.stream, cmdID, i), Type: e.typ, Data: e.data, Metadata: meta.Encode()}
	}
	expected := eventstore.NoStream()
	if n := s.streamLen(); n > 0 {
		expected = eventstore.Exact(uint64(n - 1))
	}
	if _, err := s.store.Append(s.ctx, s.stream, expected, data...); err != nil {
		s.fail("%s: %v", label, err)
	}
}

// When sends cmd through the handler, to the scenario's aggregate, with the command
// id "testkit-cmd-N" (N the step's When number). The payload is round-tripped
// through the codec first. The outcome is checked by the Then, ThenNothing or
// ThenError that follows; a When followed by another step instead must succeed,
// and its redelivery is checked all the same.
func (s *Scenario[S, C, E]) When(cmd C) *Scenario[S, C, E] {
	s.t.Helper()
	return s.WhenCommand(command.Command[C]{Payload: cmd})
}

// WhenCommand is When with a full envelope: its ID and AggregateID, when empty,
// are filled in as When does.
func (s *Scenario[S, C, E]) WhenCommand(c command.Command[C]) *Scenario[S, C, E] {
	s.t.Helper()
	s.closePending()
	if s.failed {
		return s
	}
	s.steps++
	s.whens++
	explicitID := c.ID != ""
	if !explicitID {
		c.ID = "testkit-cmd-" + strconv.Itoa(s.whens)
	}
	if c.AggregateID == "" {
		c.AggregateID = s.cfg.aggregateID
	}
	label := fmt.Sprintf("step %d: When(%s)", s.steps, show(c.Payload))
	if explicitID {
		label = fmt.Sprintf("step %d: When(%s, id %q)", s.steps, show(c.Payload), c.ID)
	}
	w := &when[C]{step: s.steps, label: label, cmd: c, wire: c.Payload}
	if !isNil(c.Payload) {
		wire, ok := s.roundTripCommand(label+": command", c.Payload)
		if !ok {
			return s
		}
		w.wire = wire
	}
	w.before = s.logLen()
	w.res, w.err = s.handler.Handle(s.ctx, c)
	w.after = s.logLen()
	s.pending, s.last = w, w
	return s
}

// Then checks that the last When succeeded and wrote exactly events to the
// aggregate's stream (compared after decoding, in order; idem's marker events are
// not counted), then re-delivers its command and checks that the redelivery is a
// duplicate with the same result that writes nothing. Then with no events is
// ThenNothing.
func (s *Scenario[S, C, E]) Then(events ...E) *Scenario[S, C, E] {
	s.t.Helper()
	w := s.take("Then")
	if w == nil {
		return s
	}
	for i, e := range events {
		if !s.roundTripEvent(fmt.Sprintf("%s: Then: expected event #%d", w.label, i), e) {
			return s
		}
	}
	if w.err != nil {
		s.fail("%s: Then: the command failed: %v\n  expected events:\n%s", w.label, w.err, listEvents(anys(events)))
		return s
	}
	actual, ok := s.written(w)
	if !ok {
		return s
	}
	want := make([]any, len(events))
	for i, e := range events {
		want[i] = deref(any(e))
	}
	if !equal(want, actual) {
		s.fail("%s: Then: wrong events\n  expected: %s\n%s\n  actual: %s\n%s\n  diff:\n%s",
			w.label, plural(len(want), "event"), listEvents(want), plural(len(actual), "event"), listEvents(actual), diff(want, actual))
		return s
	}
	s.redeliver(w, "Then", nil)
	return s
}

// ThenNothing checks that the last When succeeded and wrote no events (a no-op, or
// a duplicate), then re-delivers it and checks that the redelivery writes nothing.
func (s *Scenario[S, C, E]) ThenNothing() *Scenario[S, C, E] {
	s.t.Helper()
	w := s.take("ThenNothing")
	if w == nil {
		return s
	}
	if w.err != nil {
		s.fail("%s: ThenNothing: the command failed: %v", w.label, w.err)
		return s
	}
	actual, ok := s.written(w)
	if !ok {
		return s
	}
	if len(actual) > 0 {
		s.fail("%s: ThenNothing: the command wrote %s\n  expected: no events\n  actual:\n%s",
			w.label, plural(len(actual), "event"), listEvents(actual))
		return s
	}
	s.redeliver(w, "ThenNothing", nil)
	return s
}

// ThenError checks that the last When failed with an error matching target
// (errors.Is) and wrote no events, then re-delivers it and checks that the
// redelivery fails the same way and writes nothing.
func (s *Scenario[S, C, E]) ThenError(target error) *Scenario[S, C, E] {
	s.t.Helper()
	return s.thenError(fmt.Sprintf("ThenError(%v)", target), func(err error) bool { return errors.Is(err, target) })
}

// ThenErrorMatches is ThenError with a predicate instead of a target, for errors
// checked with errors.As or by their fields.
func (s *Scenario[S, C, E]) ThenErrorMatches(match func(error) bool) *Scenario[S, C, E] {
	s.t.Helper()
	return s.thenError("ThenErrorMatches", match)
}

func (s *Scenario[S, C, E]) thenError(verb string, match func(error) bool) *Scenario[S, C, E] {
	s.t.Helper()
	w := s.take(verb)
	if w == nil {
		return s
	}
	if w.err == nil {
		events, _ := s.written(w)
		s.fail("%s: %s: the command succeeded, expected an error\n  actual: %s\n%s",
			w.label, verb, plural(len(events), "event"), listEvents(events))
		return s
	}
	if !match(w.err) {
		s.fail("%s: %s: wrong error\n  actual: %v", w.label, verb, w.err)
		return s
	}
	events, ok := s.written(w)
	if !ok {
		return s
	}
	if len(events) > 0 {
		s.fail("%s: %s: the command failed but wrote %s:\n%s", w.label, verb, plural(len(events), "event"), listEvents(events))
		return s
	}
	s.redeliver(w, verb, match)
	return s
}

// take returns the When a Then step checks, or nil (after reporting why) when
// there is none or the scenario already failed.
func (s *Scenario[S, C, E]) take(verb string) *when[C] {
	s.t.Helper()
	if s.failed {
		return nil
	}
	w := s.pending
	s.pending = nil
	if w == nil {
		s.fail("step %d: %s without a When before it", s.steps, verb)
	}
	return w
}

// closePending checks a When that no Then followed: it must have succeeded, and
// its redelivery must change nothing.
func (s *Scenario[S, C, E]) closePending() {
	s.t.Helper()
	w := s.pending
	s.pending = nil
	if w == nil || s.failed {
		return
	}
	if w.err != nil {
		s.fail("%s: the command failed: %v\n  (expect a failure with ThenError)", w.label, w.err)
		return
	}
	s.redeliver(w, "redelivery", nil)
}

// redeliver sends w's command again, as it would arrive from a queue, and checks
// that it is answered from the first delivery and writes nothing (G3, G6).
func (s *Scenario[S, C, E]) redeliver(w *when[C], verb string, match func(error) bool) {
	s.t.Helper()
	again := w.cmd
	again.Payload = w.wire
	before := s.logLen()
	res, err := s.handler.Handle(s.ctx, again)
	added := s.logSince(before)
	prefix := fmt.Sprintf("%s: %s: redelivery of command %q", w.label, verb, w.cmd.ID)
	if len(added) > 0 {
		s.fail("%s wrote %s; a redelivered command must write nothing\n  first delivery: %s\n  redelivery wrote:\n%s",
			prefix, plural(len(added), "event"), outcome(w.res, w.err), s.listRecorded(added))
		return
	}
	if w.err != nil {
		switch {
		case err == nil:
			s.fail("%s succeeded, but the first delivery failed\n  first delivery: %v\n  redelivery: %s", prefix, w.err, outcome(res, nil))
		case match != nil && !match(err) && !sameRecordedRejection(w.err, err):
			s.fail("%s failed with another error\n  first delivery: %v\n  redelivery: %v", prefix, w.err, err)
		}
		return
	}
	if err != nil {
		s.fail("%s failed; it must return the first delivery's result\n  first delivery: %s\n  redelivery: %v", prefix, outcome(w.res, nil), err)
		return
	}
	if len(w.res.Events) > 0 && !w.res.Duplicate && !res.Duplicate {
		s.fail("%s was not recognised as a duplicate\n  first delivery: %s\n  redelivery: %s", prefix, outcome(w.res, nil), outcome(res, nil))
		return
	}
	first, second := summarize(w.res), summarize(res)
	if !equal(first, second) {
		s.fail("%s returned another result\n  first delivery: %s\n  redelivery: %s\n  diff:\n%s",
			prefix, outcome(w.res, nil), outcome(res, nil), diff(first, second))
	}
}

// written decodes the domain events w's first delivery wrote to the aggregate's
// stream and checks their metadata names w's command.
func (s *Scenario[S, C, E]) written(w *when[C]) ([]any, bool) {
	s.t.Helper()
	var out []any
	target := s.streamOf(w.cmd.AggregateID)
	for _, e := range s.logRange(w.before, w.after) {
		if e.Stream != target {
			continue // reservation claims and other streams
		}
		if strings.HasPrefix(e.Type, aggregate.ReservedTypePrefix) {
			continue // idem's marker events
		}
		m, err := command.DecodeMetadata(e.Metadata)
		if err != nil {
			s.fail("%s: event %s at revision %d has no command metadata: %v", w.label, e.Type, e.Revision, err)
			return nil, false
		}
		if m.CommandID != w.cmd.ID {
			s.fail("%s: event %s at revision %d names command %q, expected %q", w.label, e.Type, e.Revision, m.CommandID, w.cmd.ID)
			return nil, false
		}
		v, err := s.codec.DecodeEvent(e.Type, e.Data)
		if err != nil {
			s.fail("%s: event at revision %d: %v", w.label, e.Revision, err)
			return nil, false
		}
		out = append(out, any(v))
	}
	return out, true
}

// roundTripEvent encodes e and decodes it back, and fails the scenario unless the
// result equals e: a type the codec does not know, or a field it loses.
func (s *Scenario[S, C, E]) roundTripEvent(where string, e E) bool {
	s.t.Helper()
	name, data, err := s.codec.EncodeEvent(e)
	if err != nil {
		s.encodeFailed(where, "aggregate.Event", e, err)
		return false
	}
	back, err := s.codec.DecodeEvent(name, data)
	return s.sameAfterCodec(where, name, data, e, back, err)
}

// roundTripCommand is roundTripEvent for a command; it returns the command as it
// arrives again from its encoding.
func (s *Scenario[S, C, E]) roundTripCommand(where string, c C) (C, bool) {
	s.t.Helper()
	name, data, err := s.codec.EncodeCommand(c)
	if err != nil {
		s.encodeFailed(where, "aggregate.Command", c, err)
		return c, false
	}
	back, err := s.codec.DecodeCommand(name, data)
	return back, s.sameAfterCodec(where, name, data, c, back, err)
}

func (s *Scenario[S, C, E]) encodeFailed(where, register string, v any, err error) {
	s.t.Helper()
	if errors.Is(err, aggregate.ErrUnregisteredType) {
		s.fail("%s: %T is not registered in the codec (%s[%T](name)): %v", where, v, register, deref(v), err)
		return
	}
	s.fail("%s: %T does not encode: %v", where, v, err)
}

// sameAfterCodec fails the scenario unless back, decoded from data, equals v.
func (s *Scenario[S, C, E]) sameAfterCodec(where, name string, data []byte, v, back any, err error) bool {
	s.t.Helper()
	if err != nil {
		s.fail("%s: %T (%q) does not decode from its own encoding %s: %v", where, v, name, data, err)
		return false
	}
	want := deref(v)
	if !equal(want, deref(back)) {
		s.fail("%s: %T loses data through the codec (registered as %q)\n  before: %s\n  encoded: %s\n  after: %s\n  diff:\n%s",
			where, want, name, show(want), data, show(deref(back)), diff(want, deref(back)))
		return false
	}
	return true
}

func (s *Scenario[S, C, E]) streamOf(aggregateID string) string {
	st, err := s.handler.Stream(aggregateID)
	if err != nil {
		return s.stream
	}
	return st
}

// log reads the whole global log of the memory store.
func (s *Scenario[S, C, E]) log() []eventstore.RecordedEvent {
	var out []eventstore.RecordedEvent
	for e, err := range s.store.ReadAll(s.ctx, eventstore.Start()) {
		if err != nil {
			s.fail("read the store: %v", err)
			return out
		}
		out = append(out, e)
	}
	return out
}

func (s *Scenario[S, C, E]) logLen() int { return len(s.log()) }

func (s *Scenario[S, C, E]) logSince(n int) []eventstore.RecordedEvent { return s.logRange(n, -1) }

func (s *Scenario[S, C, E]) logRange(from, to int) []eventstore.RecordedEvent {
	all := s.log()
	if to < 0 || to > len(all) {
		to = len(all)
	}
	if from > to {
		return nil
	}
	return all[from:to]
}

func (s *Scenario[S, C, E]) streamLen() int {
	n := 0
	for _, e := range s.log() {
		if e.Stream == s.stream {
			n++
		}
	}
	return n
}

// listRecorded lists stored events, decoded where the codec knows them.
func (s *Scenario[S, C, E]) listRecorded(events []eventstore.RecordedEvent) string {
	vals := make([]any, len(events))
	for i, e := range events {
		if v, err := s.codec.DecodeEvent(e.Type, e.Data); err == nil {
			vals[i] = v
		} else {
			vals[i] = fmt.Sprintf("%s %s", e.Type, e.Data)
		}
	}
	return listEvents(vals)
}

// recordedSummary is what must be equal between a result and its redelivery:
// everything a store returns about an event except Position and RecordedAt, which
// a freshly written result carries only partly.
type recordedSummary struct {
	ID       string
	Stream   string
	Revision uint64
	Type     string
	Data     string
	Metadata string
}

type resultSummary struct {
	Stream   string
	Revision uint64
	Events   []recordedSummary
}

func summarize(r command.Result) resultSummary {
	out := resultSummary{Stream: r.Stream, Revision: r.Revision}
	for _, e := range r.Events {
		out.Events = append(out.Events, recordedSummary{ID: e.ID.String(), Stream: e.Stream, Revision: e.Revision,
			Type: e.Type, Data: string(e.Data), Metadata: string(e.Metadata)})
	}
	return out
}

// outcome describes a Handle outcome in one line.
func outcome(r command.Result, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	var kind string
	switch {
	case r.Duplicate:
		kind = "duplicate (by " + string(r.DuplicateBy) + ")"
	case r.NoOp:
		kind = "no-op"
	default:
		kind = "applied"
	}
	return fmt.Sprintf("%s, %s, revision %d of %s", kind, plural(len(r.Events), "event"), r.Revision, r.Stream)
}

func showList[T any](vs []T) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = show(v)
	}
	return strings.Join(parts, ", ")
}

// sameRecordedRejection reports whether again is the answer of a recorded
// rejection (command.WithRecordedRejections) to the rejection first: the handler can
// only give back the recorded text, not the original error value.
func sameRecordedRejection(first, again error) bool {
	var f, a *command.RejectedError
	return errors.As(first, &f) && errors.As(again, &a) && a.Duplicate && f.Err != nil && a.Err != nil &&
		f.Err.Error() == a.Err.Error()
}

// anys returns vs as values of type any.
func anys[T any](vs []T) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// isNil reports whether v is nil or a nil pointer, map, slice or interface.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Func, reflect.Chan:
		return rv.IsNil()
	}
	return false
}
