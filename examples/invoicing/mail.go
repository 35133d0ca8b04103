package invoicing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Mail is one notification to a customer.
type Mail struct {
	// IdempotencyKey identifies the notification: a provider sends one mail per key,
	// however often it is asked.
	IdempotencyKey string
	To             string
	Subject        string
	// Invoice is the invoice number the mail is about.
	Invoice string
}

// Mailer sends mail. Implementations must send at most one mail per
// IdempotencyKey, as real providers do when given one.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// ErrMailRejected: the mail service refused a request (no key, no recipient).
var ErrMailRejected = errors.New("invoicing: mail request rejected")

// MailService is a simulated mail provider that keeps what it was asked in a SQL
// database: every request, in mail_requests, and every mail it sent, in mail_sent,
// one per idempotency key. Several processes may share it (SQLite serialises them).
type MailService struct {
	db *sql.DB
}

// NewMailService creates the service's tables in db if needed.
func NewMailService(ctx context.Context, db *sql.DB) (*MailService, error) {
	_, err := db.ExecContext(ctx, `
		CREATE TABLE IF NOT EXISTS mail_requests (
			seq INTEGER PRIMARY KEY AUTOINCREMENT,
			idempotency_key TEXT NOT NULL, recipient TEXT NOT NULL, invoice TEXT NOT NULL);
		CREATE TABLE IF NOT EXISTS mail_sent (
			idempotency_key TEXT PRIMARY KEY, recipient TEXT NOT NULL,
			subject TEXT NOT NULL, invoice TEXT NOT NULL);`)
	if err != nil {
		return nil, fmt.Errorf("create mail service tables: %w", err)
	}
	return &MailService{db: db}, nil
}

// Send records the request and sends the mail unless a mail with the same key was
// sent before. Both happen in one transaction.
func (s *MailService) Send(ctx context.Context, m Mail) error {
	if m.IdempotencyKey == "" || m.To == "" {
		return fmt.Errorf("send mail about %s to %q: %w: key and recipient are required", m.Invoice, m.To, ErrMailRejected)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("send mail about %s: %w", m.Invoice, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO mail_requests (idempotency_key, recipient, invoice) VALUES (?, ?, ?)`,
		m.IdempotencyKey, m.To, m.Invoice); err != nil {
		return fmt.Errorf("send mail about %s: record request: %w", m.Invoice, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO mail_sent (idempotency_key, recipient, subject, invoice) VALUES (?, ?, ?, ?)
		ON CONFLICT (idempotency_key) DO NOTHING`, m.IdempotencyKey, m.To, m.Subject, m.Invoice); err != nil {
		return fmt.Errorf("send mail about %s: %w", m.Invoice, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("send mail about %s: commit: %w", m.Invoice, err)
	}
	return nil
}

// MailStats is what the mail service received and sent.
type MailStats struct {
	// Requests counts every request, repeats included.
	Requests int64
	// Sent counts mails sent: one per distinct idempotency key.
	Sent int64
	// Invoices counts the distinct invoices mailed about.
	Invoices int64
}

// Stats reads the service's counts.
func (s *MailService) Stats(ctx context.Context) (MailStats, error) {
	var st MailStats
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM mail_requests), (SELECT count(*) FROM mail_sent),
		(SELECT count(DISTINCT invoice) FROM mail_sent)`).Scan(&st.Requests, &st.Sent, &st.Invoices)
	if err != nil {
		return st, fmt.Errorf("read mail service stats: %w", err)
	}
	return st, nil
}
