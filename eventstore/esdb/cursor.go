package esdb

import (
	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/idemkit/idem/eventstore"
)

// streamCursor is where a stream read goes on from, page after page.
type streamCursor struct {
	next      uint64 // the revision the next page starts at
	remaining int    // events still to read under a limit; 0: no limit
	backwards bool
}

// pageSize is how many events the next page asks for.
func (c *streamCursor) pageSize() int {
	if c.remaining > 0 {
		return min(pageSize, c.remaining)
	}
	return pageSize
}

// readOptions asks for the next page. Backwards from eventstore.StreamEnd starts at
// the stream's last event.
func (c *streamCursor) readOptions() esdbclient.ReadStreamOptions {
	var from esdbclient.StreamPosition = esdbclient.Revision(c.next)
	if !c.backwards {
		return esdbclient.ReadStreamOptions{Direction: esdbclient.Forwards, From: from}
	}
	if c.next == eventstore.StreamEnd {
		from = esdbclient.End{}
	}
	return esdbclient.ReadStreamOptions{Direction: esdbclient.Backwards, From: from}
}

// advance moves past the event at revision. It reports false when the read is
// complete: the limit is reached, or a backwards read has passed revision 0.
func (c *streamCursor) advance(revision uint64) bool {
	done := false
	if c.backwards {
		done = revision == 0
		c.next = revision - 1
	} else {
		c.next = revision + 1
	}
	if c.remaining > 0 {
		c.remaining--
		done = done || c.remaining == 0
	}
	return !done
}

// allCursor is the last position of $all that a read or a subscription has gone
// past, so that the next page or the next subscription starts after it: the
// server's forward reads start at their position, inclusive, and a resubscription
// replays what came after its last checkpoint.
type allCursor struct {
	pos  eventstore.Position
	seen bool // false: nothing yet, start at the beginning of $all
}

// newAllCursor is a cursor for a read or subscription after the given position.
func newAllCursor(after eventstore.Position) allCursor {
	return allCursor{pos: after, seen: after != eventstore.Start()}
}

// from is where the server is asked to start.
func (c *allCursor) from() esdbclient.AllPosition {
	if !c.seen {
		return esdbclient.Start{}
	}
	return esdbclient.Position{Commit: c.pos.Commit, Prepare: c.pos.Prepare}
}

// moveTo moves the cursor to p when p is after it, and reports whether it did:
// false for a position already gone past (a read's inclusive start, or an event
// delivered before a resubscription).
func (c *allCursor) moveTo(p eventstore.Position) bool {
	if c.seen && p.Compare(c.pos) <= 0 {
		return false
	}
	c.pos, c.seen = p, true
	return true
}

// position converts a client position.
func position(p esdbclient.Position) eventstore.Position {
	return eventstore.Position{Commit: p.Commit, Prepare: p.Prepare}
}
