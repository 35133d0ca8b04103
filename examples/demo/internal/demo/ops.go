package demo

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/idemkit/idem/eventstore"
	"github.com/idemkit/idem/examples/invoicing"
	"github.com/idemkit/idem/ops"
	"github.com/idemkit/idem/projection"
	"github.com/idemkit/idem/projection/sqlitetarget"
)

// PoisonEnv lists invoice numbers (comma-separated) whose InvoiceIssued the
// demo's invoices_per_customer handler refuses when run by "demo ops": a handler
// bug to rehearse the poison-message runbook of docs/operations.md with. The
// projection parks what it refuses; without the variable, the fixed handler
// applies it ("demo ops parked retry").
const PoisonEnv = "IDEM_DEMO_POISON"

// OpsMain runs the operations commands of package ops, mounted as "demo ops", over
// the demo's event store (-db's default unless --store) and its read model (the
// store's path + ".read"), with the demo's own projections and notification
// reactor as a run leaves them deployed: rebuild, reconcile and parked retry run
// the demo's handlers. args are the command line after the program's name, "ops"
// first. It returns the exit status.
func OpsMain(ctx context.Context, args []string) int {
	opsCmd, err := ops.Command(ops.WithName("ops"), ops.WithStore(DefaultConfig().DBPath),
		ops.WithReadModelBeside(".read"), ops.WithProjections(opsRunner))
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo ops: %v\n", err)
		return ops.ExitFailure
	}
	root := &cobra.Command{Use: "demo", Short: "idem's end-to-end demo; 'demo ops' operates its database"}
	root.AddCommand(opsCmd)
	return ops.Execute(ctx, root, args)
}

// opsRunner is the demo's projection runner for the ops commands: the read models
// at the version the end of a run deploys (finishReadModels builds version 2 from
// history), parking the events their handler refuses, and the notification
// reactor, whose mail service (beside the read model, .mail for .read) is opened
// only if the reactor sends.
func opsRunner(_ context.Context, store eventstore.Store, target projection.Target[*sqlitetarget.Tx],
	opts ...projection.Option) (*projection.Runner[*sqlitetarget.Tx], func(), error) {
	mail := &lazyMailer{path: mailPath(target)}
	r, err := projection.NewRunner(store, target, append([]projection.Option{projection.WithLogger(quietLogger())}, opts...)...)
	if err != nil {
		return nil, nil, err
	}
	poisoned := strings.Split(os.Getenv(PoisonEnv), ",")
	for _, p := range []projection.Projection[*sqlitetarget.Tx]{invoicing.InvoicesPerCustomer(), invoicing.RevenueTotals()} {
		p.Version++ // as finishReadModels deploys it
		p.Poison = projection.PoisonPark
		if p.Name == "invoices_per_customer" {
			p.Handle = refusing(p.Handle, poisoned)
		}
		if err := r.Add(p); err != nil {
			return nil, nil, err
		}
	}
	if err := r.AddReactor(invoicing.Notifier(mail)); err != nil {
		return nil, nil, err
	}
	return r, mail.close, nil
}

// refusing wraps a handler of InvoiceIssued events so that it fails for the
// invoice numbers listed.
func refusing(handle func(context.Context, *sqlitetarget.Tx, projection.Event) error, numbers []string) func(context.Context, *sqlitetarget.Tx, projection.Event) error {
	return func(ctx context.Context, tx *sqlitetarget.Tx, e projection.Event) error {
		var inv struct{ Number string }
		if err := json.Unmarshal(e.Data, &inv); err == nil && inv.Number != "" && slices.Contains(numbers, inv.Number) {
			return fmt.Errorf("invoice %s: refused (%s)", inv.Number, PoisonEnv)
		}
		return handle(ctx, tx, e)
	}
}

// mailPath is where the mail service's database is: beside the read model's file.
func mailPath(target projection.Target[*sqlitetarget.Tx]) string {
	t, ok := target.(*sqlitetarget.Target)
	if !ok {
		return ""
	}
	var seq int
	var name, file string
	if err := t.DB().QueryRow(`SELECT seq, name, file FROM pragma_database_list WHERE name = 'main'`).Scan(&seq, &name, &file); err != nil {
		return ""
	}
	return strings.TrimSuffix(file, ".read") + ".mail"
}

// lazyMailer opens the demo's mail service at its first Send, so that commands
// that send nothing never touch its database.
type lazyMailer struct {
	path string
	once sync.Once
	db   *sql.DB
	svc  *invoicing.MailService
	err  error
}

func (m *lazyMailer) Send(ctx context.Context, mail invoicing.Mail) error {
	m.once.Do(func() {
		if m.path == "" {
			m.err = errors.New("no mail service database beside the read model")
			return
		}
		if m.db, m.err = openSQL(m.path); m.err == nil {
			m.svc, m.err = invoicing.NewMailService(ctx, m.db)
		}
	})
	if m.err != nil {
		return m.err
	}
	return m.svc.Send(ctx, mail)
}

func (m *lazyMailer) close() {
	if m.db != nil {
		_ = m.db.Close()
	}
}
