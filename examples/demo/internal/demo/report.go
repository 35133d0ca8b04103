package demo

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/idemkit/idem/examples/invoicing"
)

// Report is what a run did and what it found.
type Report struct {
	Config   Config
	Workload Workload
	// Planned is the number of deliveries in the at-least-once schedule (before
	// redeliveries after errors and kills).
	Planned int
	// Transport names what delivered the messages.
	Transport string
	Broker    DeliveryStats
	// ProjectorKills and ProjectorRestarts count the projector's crashes.
	ProjectorKills, ProjectorRestarts int
	// ProjectorApplied counts the events the projector processes applied (handled,
	// for the reactor), summed over every process, each as it last reported
	// (a killed one may have applied a few more since).
	ProjectorApplied uint64
	// FinalCatchUp counts the events the parent applied to finish the read models
	// after the projector stopped; RebuildApplied those it applied to rebuild them.
	FinalCatchUp, RebuildApplied uint64
	Live, Rebuilt                ReadModels
	Mail                         invoicing.MailStats
	MailKeys                     map[string]string

	// Found by reading the event store.
	Events, InvoicesIssued, DistinctRefs, NumbersUnique, PaymentsChecked, CommandsRecorded int
	KeyReuseRefused, OverRefundsRefused                                                    int

	DeliveryTime, RebuildTime, Elapsed time.Duration
	// Violations names every broken invariant; empty when all held.
	Violations []Violation
}

// Violation is one broken invariant, with an example.
type Violation struct {
	Invariant string
	Detail    string
}

func (v Violation) String() string { return v.Invariant + ": " + v.Detail }

func (r *Report) violate(invariant, format string, args ...any) {
	n := 0
	for _, v := range r.Violations {
		if v.Invariant == invariant {
			n++
		}
	}
	if n < maxListed {
		r.Violations = append(r.Violations, Violation{Invariant: invariant, Detail: fmt.Sprintf(format, args...)})
	}
}

// OK reports whether every invariant held.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

// Print writes the report for a person.
func (r *Report) Print(w io.Writer) {
	c, wl, b := r.Config, r.Workload, r.Broker
	backend := "SQLite, synchronous=" + c.Synchronous + ", " + c.DBPath
	if c.Backend != "sqlite" {
		backend = "EventStoreDB " + c.Backend + " (read models in SQLite)"
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	check := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "VIOLATED"
	}
	p("")
	p("idem demo, seed %d: %d workers x %d consumers on %s; delivered by %s", c.Seed, c.Workers, c.Consumers, backend, r.Transport)
	p("")
	p("Workload")
	p("  %-30s %d (%d shipments, %d of them sent twice by two paths with different message ids;", "messages", len(wl.Messages), wl.Shipments, wl.ShipmentsTwoPaths)
	p("  %-30s  %d payments: authorize, capture, refund, void; %d provider webhooks repeating a capture;", "", wl.Payments, wl.WebhookCopies)
	p("  %-30s  %d refunds of more than was captured; %d ids re-sent later with another payload)", "", wl.OverRefunds, len(wl.Late))
	p("")
	p("Delivery (at least once)")
	p("  %-30s %d  (%d originals, %d duplicates, %d replays, %d raced to two workers at once)", "messages delivered", b.Delivered, b.Originals, b.Duplicates, b.Replays, b.Races)
	p("  %-30s %d  (refused for now, e.g. a capture before its authorization, or failed)", "redelivered after an error", b.RetriesAfterError)
	p("  %-30s %d workers and %d projector killed with SIGKILL, all restarted; %d in-flight deliveries redelivered", "crashes survived", b.Kills, r.ProjectorKills, b.RedeliveredAfterKill)
	p("")
	p("What the command handlers did (counters of every worker process)")
	p("  %-30s %d  (= %d distinct command ids - %d second paths - %d webhook copies - %d over-refunds)", "commands recorded",
		r.CommandsRecorded, distinctIDs(wl), wl.ShipmentsTwoPaths, wl.WebhookCopies, wl.OverRefunds)
	p("  %-30s %d by command id, %d by business key", "duplicates absorbed", b.Handler.DuplicatesByID, b.Handler.DuplicatesByKey)
	p("  %-30s %d  (loud ErrIdempotencyKeyReused; %d of %d planted ids refused)", "key-reuse errors", b.Handler.KeyReused, r.KeyReuseRefused, len(wl.Late))
	p("  %-30s %d  (appends that lost a race and were decided again)", "conflicts retried", b.Handler.ConflictsRetried)
	if c.Cache > 0 {
		p("  %-30s %d per handler: %d commands started on a cached aggregate, %d loads", "aggregate cache", c.Cache, b.Handler.CacheHits, b.Handler.Loads)
	} else {
		p("  %-30s off: %d loads", "aggregate cache", b.Handler.Loads)
	}
	p("  %-30s %d  (captures before their authorization, refunds before their capture: redelivered later;", "domain rejections", b.Handler.Rejected)
	p("  %-30s  %d of %d over-refunds refused every time, given up after %d tries)", "", r.OverRefundsRefused, wl.OverRefunds, c.MaxAttempts)
	p("")
	p("Invariants")
	p("  %-30s %d issued for %d distinct shipment references  %s", "invoices", r.InvoicesIssued, r.DistinctRefs, check(r.InvoicesIssued == r.DistinctRefs && !r.broken("one invoice per shipment", "every shipment invoiced", "invoice content", "keyed identity")))
	p("  %-30s %d unique, each reserved by its invoice; %d taken numbers moved to the next candidate  %s", "invoice numbers", r.NumbersUnique, b.Renumbered, check(!r.broken("unique invoice numbers", "number reservations")))
	p("  %-30s %d sent for %d invoices; %d requests, the %d repeats absorbed by idempotency key  %s", "notifications", r.Mail.Sent, r.InvoicesIssued, r.Mail.Requests, r.Mail.Requests-r.Mail.Sent, check(!r.broken("one notification per invoice")))
	p("  %-30s %d payments end exactly as their commands say; refunds <= captured <= authorized  %s", "payments", r.PaymentsChecked, check(!r.broken("payment outcome", "refunds <= captured <= authorized", "refunds <= captured", "payments")))
	p("  %-30s every command's events written by one append, none twice  %s", "commands", check(!r.broken("each command applied once", "metadata")))
	p("  %-30s live %d customers / %d currencies == rebuilt from history == expected  %s", "read models", len(r.Live.Customers), len(r.Live.Revenue), check(!r.broken("live read models", "live == rebuilt")))
	p("  %-30s %s", "nothing lost", check(!r.broken("nothing lost", "key reuse is loud")))
	p("")
	secs := r.DeliveryTime.Seconds()
	p("Throughput: %d deliveries in %.1fs (%.0f/s); %d events in the store; rebuild %.2fs; total %.1fs",
		b.Delivered, secs, float64(b.Delivered)/max(secs, 1e-9), r.Events, r.RebuildTime.Seconds(), r.Elapsed.Seconds())
	p("")
	if r.OK() {
		p("OK: every invariant held.")
		return
	}
	p("FAILED: %d invariant violation(s):", len(r.Violations))
	for _, v := range r.Violations {
		p("  - %s", v)
	}
}

// broken reports whether any of the invariants was violated.
func (r *Report) broken(invariants ...string) bool {
	for _, v := range r.Violations {
		for _, name := range invariants {
			if v.Invariant == name {
				return true
			}
		}
	}
	return false
}

// Summary is a one-line account of the violations, for an error message.
func (r *Report) Summary() string {
	var names []string
	seen := map[string]bool{}
	for _, v := range r.Violations {
		if !seen[v.Invariant] {
			seen[v.Invariant] = true
			names = append(names, v.Invariant)
		}
	}
	return strings.Join(names, ", ")
}

func distinctIDs(wl Workload) int {
	ids := map[string]bool{}
	for _, m := range wl.Messages {
		ids[m.CommandID] = true
	}
	return len(ids)
}
