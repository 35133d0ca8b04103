package esdbtest

import (
	"context"
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/google/uuid"
)

// tombstoneRevision is the revision of a tombstone's $streamDeleted event (long.MaxValue).
const tombstoneRevision = math.MaxInt64

// firstPosition is where the emulated transaction log starts: a real log starts
// with chunk headers and epoch records, so user events never sit at position 0.
const firstPosition = 4096

// record is one event of the transaction log. Records are immutable once written.
type record struct {
	id          uuid.UUID
	stream      string
	revision    uint64
	typ         string
	contentType string
	data        []byte
	meta        []byte
	created     int64 // .NET ticks (100 ns) since the Unix epoch
	pos         uint64
}

// stream is the state of one stream.
type stream struct {
	events     []*record  // by revision; nothing is ever removed, reads hide what meta cuts off
	meta       streamMeta // from the last event of "$$<name>"
	rawMeta    []byte     // that event's data, rewritten when a soft-deleted stream is undeleted
	hasMeta    bool       // "$$<name>" has events
	tombstoned bool
}

func (st *stream) exists() bool      { return st != nil && len(st.events) > 0 }
func (st *stream) last() uint64      { return uint64(len(st.events)) - 1 }
func (st *stream) softDeleted() bool { return st != nil && st.meta.softDeleted() }

// fault is an injected failure of the next append.
type fault int

const (
	faultNone fault = iota
	faultBeforeCommit
	faultAfterCommit
)

// eventLog is the emulated database: the transaction log ($all), the streams, the
// committed-events cache and the signals subscriptions wait on.
type eventLog struct {
	cfg   config
	stats string // the node's stats stream, "$stats-<host:port>"

	mu      sync.Mutex
	all     []*record
	streams map[string]*stream
	next    uint64        // position of the next record
	wake    chan struct{} // closed and replaced on every write
	drop    chan struct{} // closed and replaced by DropSubscriptions
	done    chan struct{} // closed by close
	cache   *idCache
	fault   fault
	appends int
	closed  bool
}

// statsMetadata is the metadata the server gives its stats stream: a $maxAge of 10
// days (MonitoringService.StreamMetadata).
const statsMetadata = `{"$maxAge":864000}`

// newEventLog returns the database of a node whose HTTP endpoint is node
// ("host:port"), which names its stats stream.
func newEventLog(cfg config, node string) *eventLog {
	l := &eventLog{
		cfg:     cfg,
		stats:   "$stats-" + node,
		streams: make(map[string]*stream),
		next:    firstPosition,
		wake:    make(chan struct{}),
		drop:    make(chan struct{}),
		done:    make(chan struct{}),
		cache:   newIDCache(cfg.cacheBytes),
	}
	// System events a fresh real server has in $all before any user write. The stats
	// stream's metadata comes first, as in the client's test data
	// (resources/test/all-e0-e10.json: "$$$stats-0.0.0.0:2113" at position 167).
	l.writeSystem("$$"+l.stats, "$metadata", statsMetadata)
	l.writeSystem("$$$scavenges", "$metadata", `{"$maxAge":2592000}`)
	l.writeSystem("$scavenges", "$scavengeIndexInitialized", `{}`)
	l.writeStats()
	return l
}

// writeStats writes a $statsCollected event to the node's stats stream, as the
// server's MonitoringService does every StatsPeriodSec (30 s by default). The caller
// holds mu or owns l.
func (l *eventLog) writeStats() {
	l.writeSystem(l.stats, "$statsCollected", `{"proc-id":1}`)
}

// writeSystem appends a system event to a $-stream. The caller holds mu or owns l.
func (l *eventLog) writeSystem(name, typ, data string) *record {
	return l.writeNext(name, uuid.New(), typ, "application/json", []byte(data), nil)
}

// writeNext appends one event to name at its next revision. The caller holds mu or
// owns l, and wakes subscribers.
func (l *eventLog) writeNext(name string, id uuid.UUID, typ, contentType string, data, meta []byte) *record {
	st := l.stream(name)
	r := l.write(name, uint64(len(st.events)), id, typ, contentType, data, meta)
	st.events = append(st.events, r)
	return r
}

// stream returns the state of name, creating it. The caller holds mu.
func (l *eventLog) stream(name string) *stream {
	st := l.streams[name]
	if st == nil {
		st = &stream{}
		l.streams[name] = st
	}
	return st
}

// write adds a record to $all at the next position. Positions grow by the record's
// size plus a header, like byte offsets in a transaction log: never contiguous.
// The caller holds mu and wakes subscribers.
func (l *eventLog) write(name string, revision uint64, id uuid.UUID, typ, contentType string, data, meta []byte) *record {
	r := &record{
		id: id, stream: name, revision: revision, typ: typ, contentType: contentType,
		data: data, meta: meta, created: ticks(time.Now()), pos: l.next,
	}
	size := 88 + 2*len(name) + 2*len(typ) + len(data) + len(meta) // prepare header + fields
	l.next += uint64((size + 7) &^ 7)
	l.all = append(l.all, r)
	l.cache.add(r)
	if isMetastream(name) {
		// The last event of a metastream is the stream's metadata, whatever its type
		// (IndexReader.GetStreamMetadataUncached).
		orig := l.stream(name[2:])
		orig.meta, orig.rawMeta, orig.hasMeta = parseMeta(contentType, data), data, true
	}
	return r
}

// notify wakes every subscriber. The caller holds mu.
func (l *eventLog) notify() {
	close(l.wake)
	l.wake = make(chan struct{})
}

// signals returns the channels a subscriber waits on.
func (l *eventLog) signals() (wake, drop, done <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.wake, l.drop, l.done
}

func (l *eventLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.done)
	}
}

func (l *eventLog) dropSubscriptions() {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.drop)
	l.drop = make(chan struct{})
}

func (l *eventLog) setFault(f fault) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fault = f
}

func (l *eventLog) appendCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appends
}

func (l *eventLog) streamLen(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.streams[name]; st != nil {
		return len(st.events)
	}
	return 0
}

// ticks converts t to .NET ticks since the Unix epoch, the form of the "created"
// metadata the client requires on every event (it calls log.Fatalf without it).
func ticks(t time.Time) int64 { return t.UnixNano() / 100 }

// sizeOnDisk is the server's count of an event against MaxAppendSize
// (KurrentDB Event.SizeOnDisk): data + metadata + 2 × the type's UTF-16 length.
func sizeOnDisk(typ string, data, meta []byte) int {
	return len(data) + len(meta) + 2*len(utf16.Encode([]rune(typ)))
}

// isSystemStream reports whether name is a system stream or a metastream.
func isSystemStream(name string) bool { return strings.HasPrefix(name, "$") }

// idCache models the server's committed-events cache (IndexWriter._committedEvents):
// a FIFO bounded by an estimate of its memory, keyed by event id. It is what makes
// Any and StreamExists appends idempotent, and only while the ids are still in it.
type idCache struct {
	limit int
	size  int
	byID  map[uuid.UUID]*record
	fifo  []*record
}

func newIDCache(limit int) *idCache {
	return &idCache{limit: limit, byID: make(map[uuid.UUID]*record)}
}

// entrySize is KurrentDB's estimate for one entry: 16 + 4 + pointer + 2 × stream length.
func entrySize(r *record) int { return 16 + 4 + 8 + 2*len(r.stream) }

func (c *idCache) add(r *record) {
	c.byID[r.id] = r
	c.fifo = append(c.fifo, r)
	c.size += entrySize(r)
	for c.size > c.limit && len(c.fifo) > 0 {
		old := c.fifo[0]
		c.fifo[0] = nil
		c.fifo = c.fifo[1:]
		c.size -= entrySize(old)
		if c.byID[old.id] == old {
			delete(c.byID, old.id)
		}
	}
}

func (c *idCache) get(id uuid.UUID) (*record, bool) {
	r, ok := c.byID[id]
	return r, ok
}

// GetSupportedMethods reports the emulated server version and the Streams methods.
func (f *featuresService) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	const svc = "event_store.client.streams.streams"
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: f.version,
		Methods: []*serverfeatures.SupportedMethod{
			{ServiceName: svc, MethodName: "read"},
			{ServiceName: svc, MethodName: "append"},
			{ServiceName: svc, MethodName: "delete"},
			{ServiceName: svc, MethodName: "tombstone"},
		},
	}, nil
}
