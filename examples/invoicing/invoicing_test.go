package invoicing_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	_ "github.com/mattn/go-sqlite3"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/eventstore/memory"
	"github.com/idemkit/idem/examples/invoicing"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
	"github.com/idemkit/idem/reservation"
	"github.com/idemkit/idem/testkit"
)

var shipment = invoicing.ShipmentCompleted{MessageID: "warehouse-1", ShipmentRef: "FSR-1", Customer: "c-1", Amount: 12_500, Currency: "EUR"}

func scenario(t *testing.T) *testkit.Scenario[invoicing.State, invoicing.IssueInvoice, invoicing.InvoiceIssued] {
	t.Helper()
	codec, err := invoicing.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	return testkit.Aggregate(t, invoicing.Decider, codec, testkit.WithAggregateID(invoicing.InvoiceID(shipment.ShipmentRef)))
}

func TestIssueInvoice(t *testing.T) {
	cmd := shipment.Command(0)
	scenario(t).
		WhenCommand(command.Command[invoicing.IssueInvoice]{ID: shipment.CommandID(0), Payload: cmd}).
		Then(invoicing.InvoiceIssued(cmd))
}

func TestSecondPathIsADuplicateByBusinessKey(t *testing.T) {
	carrier := shipment
	carrier.MessageID = "carrier-1"
	s := scenario(t).
		WhenCommand(command.Command[invoicing.IssueInvoice]{ID: shipment.CommandID(0), Payload: shipment.Command(0)}).
		Then(invoicing.InvoiceIssued(shipment.Command(0))).
		WhenCommand(command.Command[invoicing.IssueInvoice]{ID: carrier.CommandID(0), Payload: carrier.Command(0)}).
		ThenNothing()
	if res, _ := s.Result(); res.DuplicateBy != command.ByBusinessKey || res.Key != "shipment FSR-1" {
		t.Errorf("second path: duplicate by %q key %q, want business key \"shipment FSR-1\"", res.DuplicateBy, res.Key)
	}
}

func TestInvalidInvoiceIsRejected(t *testing.T) {
	bad := shipment.Command(0)
	bad.Amount = 0
	scenario(t).When(bad).ThenError(invoicing.ErrInvalidInvoice)
}

func TestNumberCandidatesAreStableAndDistinct(t *testing.T) {
	a0, a1 := invoicing.NumberCandidate("FSR-1", 0), invoicing.NumberCandidate("FSR-1", 1)
	if a0 != invoicing.NumberCandidate("FSR-1", 0) || a0 == a1 {
		t.Fatalf("candidates %s, %s: want stable and distinct", a0, a1)
	}
}

// TestNumberBelongsToOneInvoice: two shipments proposing the same number; the
// reservation lets the first have it and refuses the second (G5).
func TestNumberBelongsToOneInvoice(t *testing.T) {
	ctx := context.Background()
	h := newHandler(t, memory.New())
	first, second := shipment.Command(0), shipment.Command(0)
	second.ShipmentRef = "FSR-2"
	if _, err := h.Handle(ctx, command.Command[invoicing.IssueInvoice]{ID: "m1", AggregateID: invoicing.InvoiceID("FSR-1"), Payload: first}); err != nil {
		t.Fatal(err)
	}
	_, err := h.Handle(ctx, command.Command[invoicing.IssueInvoice]{ID: "m2", AggregateID: invoicing.InvoiceID("FSR-2"), Payload: second})
	var claimed *reservation.ClaimedError
	if !errors.As(err, &claimed) || claimed.Owner != invoicing.Category+"-"+invoicing.InvoiceID("FSR-1") {
		t.Fatalf("second invoice with number %s: err %v, want *reservation.ClaimedError owned by FSR-1's invoice", second.Number, err)
	}
	if invoice, err := h.Load(ctx, invoicing.InvoiceID("FSR-2")); err != nil || invoice.Exists {
		t.Fatalf("refused invoice was written: %+v, %v", invoice, err)
	}
}

func newHandler(t *testing.T, store eventstore.Store, opts ...command.Option) *command.Handler[invoicing.State, invoicing.IssueInvoice, invoicing.InvoiceIssued] {
	t.Helper()
	codec, err := invoicing.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	h, err := command.NewHandler(store, invoicing.Decider, codec, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func openDB(t *testing.T, name string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), name)+"?_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMailServiceSendsOncePerKey(t *testing.T) {
	ctx := context.Background()
	mail, err := invoicing.NewMailService(ctx, openDB(t, "mail.db"))
	if err != nil {
		t.Fatal(err)
	}
	m := invoicing.Mail{IdempotencyKey: "k1", To: "c-1@example.com", Subject: "Invoice", Invoice: "INV-1"}
	for range 3 {
		if err := mail.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := mail.Send(ctx, invoicing.Mail{To: "x"}); !errors.Is(err, invoicing.ErrMailRejected) {
		t.Fatalf("mail without key: %v, want ErrMailRejected", err)
	}
	st, err := mail.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st != (invoicing.MailStats{Requests: 3, Sent: 1, Invoices: 1}) {
		t.Fatalf("stats %+v, want 3 requests and 1 mail", st)
	}
}

// TestReadModelsAndNotifications issues invoices through the handler (one
// shipment by two paths), runs the projections and the reactor twice, and checks
// the read models and that each invoice was mailed once.
func TestReadModelsAndNotifications(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	h := newHandler(t, store)
	msgs := []invoicing.ShipmentCompleted{
		shipment,
		{MessageID: "carrier-1", ShipmentRef: "FSR-1", Customer: "c-1", Amount: 12_500, Currency: "EUR"},
		{MessageID: "warehouse-2", ShipmentRef: "FSR-2", Customer: "c-1", Amount: 500, Currency: "EUR"},
		{MessageID: "warehouse-3", ShipmentRef: "FSR-3", Customer: "c-2", Amount: 700, Currency: "USD"},
	}
	for _, m := range msgs {
		if _, err := h.Handle(ctx, command.Command[invoicing.IssueInvoice]{ID: m.CommandID(0), AggregateID: invoicing.InvoiceID(m.ShipmentRef), Payload: m.Command(0)}); err != nil {
			t.Fatal(err)
		}
	}
	readDB := openDB(t, "read.db")
	mail, err := invoicing.NewMailService(ctx, openDB(t, "mail.db"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // a second runner finds nothing left to do: no second mail
		target, err := sqlitetarget.New(readDB)
		if err != nil {
			t.Fatal(err)
		}
		r, err := projection.NewRunner(store, target)
		if err != nil {
			t.Fatal(err)
		}
		for _, err := range []error{r.Add(invoicing.InvoicesPerCustomer()), r.Add(invoicing.RevenueTotals()), r.AddReactor(invoicing.Notifier(mail))} {
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := r.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var invoices, amount int64
	if err := readDB.QueryRow(`SELECT invoices, amount FROM customer_invoices WHERE customer = 'c-1'`).Scan(&invoices, &amount); err != nil {
		t.Fatal(err)
	}
	if invoices != 2 || amount != 13_000 {
		t.Errorf("customer c-1: %d invoices, %d, want 2 and 13000", invoices, amount)
	}
	var eur int64
	if err := readDB.QueryRow(`SELECT invoiced FROM revenue WHERE currency = 'EUR'`).Scan(&eur); err != nil {
		t.Fatal(err)
	}
	if eur != 13_000 {
		t.Errorf("EUR revenue %d, want 13000", eur)
	}
	st, err := mail.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sent != 3 || st.Invoices != 3 {
		t.Errorf("mail %+v, want 3 sent about 3 invoices", st)
	}
}

// TestProjectionSpansLinkToCommands: the trace context of the command that issued
// an invoice is recorded in its event, so the projection's batch span and the
// notifier's span link back to the command's span, across the store.
func TestProjectionSpansLinkToCommands(t *testing.T) {
	ctx := context.Background()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	store := memory.New()
	h := newHandler(t, store, command.WithTracerProvider(tp))
	if _, err := h.Handle(ctx, command.Command[invoicing.IssueInvoice]{ID: shipment.CommandID(0),
		AggregateID: invoicing.InvoiceID(shipment.ShipmentRef), Payload: shipment.Command(0)}); err != nil {
		t.Fatal(err)
	}
	target, err := sqlitetarget.New(openDB(t, "read.db"))
	if err != nil {
		t.Fatal(err)
	}
	mail, err := invoicing.NewMailService(ctx, openDB(t, "mail.db"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := projection.NewRunner(store, target, projection.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(r.Add(invoicing.InvoicesPerCustomer()), r.AddReactor(invoicing.Notifier(mail))); err != nil {
		t.Fatal(err)
	}
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	var handled trace.SpanID
	linked := map[string]bool{}
	for _, sp := range spans.Ended() {
		if sp.Name() == "idem.command.handle" {
			handled = sp.SpanContext().SpanID()
		}
	}
	for _, sp := range spans.Ended() {
		for _, l := range sp.Links() {
			if l.SpanContext.SpanID() == handled && l.SpanContext.TraceID().IsValid() {
				linked[sp.Name()] = true
			}
		}
	}
	if !handled.IsValid() || !linked["idem.projection.batch"] || !linked["idem.reactor.event"] {
		t.Fatalf("command span %s; spans linking to it: %v, want the projection batch and the reactor event", handled, linked)
	}
}
