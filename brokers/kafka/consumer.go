package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/idemkit/idem/brokers"
)

// Records a partition may hold before its fetching is paused, and resumed.
const (
	pauseAbove  = 512
	resumeBelow = 64
)

// Consumer consumes command topics in a consumer group into a brokers.Inbox.
// See the package doc for what is committed when.
type Consumer struct {
	inbox   *brokers.Inbox
	cl      *kgo.Client
	cfg     config
	log     *slog.Logger
	started chan struct{}
	ran     atomic.Bool
	runCtx  context.Context // set before started is closed

	mu    sync.Mutex
	parts map[topicPartition]*partition

	// commitMu makes a commit and a revocation take turns, so a periodic commit
	// never lands after the partition's next owner committed (a rewind).
	commitMu sync.Mutex
	stats    counters
}

type topicPartition struct {
	topic     string
	partition int32
}

// Stats are a consumer's counters (G12); the inbox has its own.
type Stats struct {
	// Owned is the number of partitions owned now.
	Owned int
	// Assigned, Revoked and Lost count partitions assigned, revoked (committed,
	// then given up) and lost (given up without a commit) since Run started.
	Assigned, Revoked, Lost uint64
	// Commits counts offset commits; CommitFailures those that failed (the
	// records stay uncommitted and are delivered again after a crash).
	Commits, CommitFailures uint64
	// Acknowledged counts records whose offsets were committed.
	Acknowledged uint64
}

type counters struct {
	assigned, revoked, lost, commits, commitFailures, acknowledged atomic.Uint64
}

// NewConsumer returns a consumer of topics in the consumer group group, handing
// each record to inbox. Client options (WithClientOptions) are checked here: a
// bad one fails, as does an empty group, no topic or a nil inbox, with
// brokers.ErrInvalidOption. The client joins the group at Run.
func NewConsumer(inbox *brokers.Inbox, group string, topics []string, opts ...Option) (*Consumer, error) {
	cfg := config{deadLetter: func(t string) string { return t + DefaultDeadLetterSuffix },
		commitInterval: DefaultCommitInterval, log: slog.Default()}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	switch {
	case inbox == nil:
		return nil, invalid("NewConsumer: nil inbox")
	case group == "":
		return nil, invalid("NewConsumer: empty group")
	case len(topics) == 0:
		return nil, invalid("NewConsumer: no topic")
	}
	c := &Consumer{inbox: inbox, cfg: cfg, log: cfg.log, started: make(chan struct{}), parts: map[topicPartition]*partition{}}
	// A resumed partition waits for the fetch in flight: keep that wait short.
	opts2 := append([]kgo.Opt{kgo.FetchMaxWait(250 * time.Millisecond)}, cfg.client...)
	opts2 = append(opts2,
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topics...),
		// Offsets are committed only for records whose outcome is known.
		kgo.DisableAutoCommit(),
		// Rebalance callbacks run between polls, never while a poll's records are
		// being handed out: records of a revoked partition cannot reach its
		// next incarnation.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(c.assigned), kgo.OnPartitionsRevoked(c.revoked), kgo.OnPartitionsLost(c.lost))
	cl, err := kgo.NewClient(opts2...)
	if err != nil {
		return nil, fmt.Errorf("%w: kafka: client options: %w", brokers.ErrInvalidOption, err)
	}
	c.cl = cl
	return c, nil
}

// Stats returns a snapshot of the consumer's counters.
func (c *Consumer) Stats() Stats {
	c.mu.Lock()
	owned := len(c.parts)
	c.mu.Unlock()
	return Stats{Owned: owned, Assigned: c.stats.assigned.Load(), Revoked: c.stats.revoked.Load(), Lost: c.stats.lost.Load(),
		Commits: c.stats.commits.Load(), CommitFailures: c.stats.commitFailures.Load(), Acknowledged: c.stats.acknowledged.Load()}
}

// Run consumes until ctx ends, then stops every partition after its record in
// flight (each given the inbox's grace), commits what was handled, and closes
// the client. It returns nil after a shutdown by ctx; Run may be called once.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.ran.CompareAndSwap(false, true) {
		return errors.New("kafka consumer: Run called twice")
	}
	c.runCtx = ctx
	close(c.started)
	defer c.cl.Close()

	var wg sync.WaitGroup
	tickCtx, stopTicks := context.WithCancel(ctx)
	wg.Go(func() { c.commitEvery(tickCtx) })
	for {
		fetches := c.cl.PollRecords(ctx, 2*pauseAbove)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			break
		}
		failed := false
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				failed = true
				c.log.Warn("kafka: fetch error", "topic", topic, "partition", p, "error", err)
			}
		})
		if failed && fetches.NumRecords() == 0 {
			// A broker that fails at once (a missing topic) must not spin the loop.
			c.cl.AllowRebalance()
			pause(ctx, 100*time.Millisecond)
			continue
		}
		fetches.EachPartition(c.dispatch)
		c.cl.AllowRebalance()
	}
	c.cl.AllowRebalance()
	stopTicks()
	wg.Wait()
	// Shutdown commits what the partitions handled before the client leaves.
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	parts := c.take(nil)
	stopAll(parts)
	c.commitLocked(context.WithoutCancel(ctx), parts)
	return nil
}

// dispatch hands a poll's records of one partition to its worker.
func (c *Consumer) dispatch(ft kgo.FetchTopicPartition) {
	if len(ft.Records) == 0 {
		return
	}
	c.mu.Lock()
	p := c.parts[topicPartition{ft.Topic, ft.Partition}]
	c.mu.Unlock()
	if p == nil {
		return // not ours (any more): its next owner fetches it from the commit
	}
	if p.push(ft.Records) {
		c.cl.PauseFetchPartitions(map[string][]int32{p.topic: {p.partition}})
	}
}

// assigned starts a worker per new partition.
func (c *Consumer) assigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	<-c.started
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, ps := range assigned {
		for _, n := range ps {
			tp := topicPartition{topic, n}
			if c.parts[tp] != nil {
				continue
			}
			p := newPartition(c, topic, n)
			c.parts[tp] = p
			c.stats.assigned.Add(1)
			go p.run()
		}
	}
	// A partition paused under a previous owner of this member starts afresh.
	c.cl.ResumeFetchPartitions(assigned)
	c.log.Info("kafka: partitions assigned", "partitions", assigned)
}

// revoked stops the revoked partitions after their record in flight and commits
// what they handled before the revocation completes: their next owner starts
// where they stopped.
func (c *Consumer) revoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	parts := c.take(revoked)
	stopAll(parts)
	c.commitLocked(context.WithoutCancel(ctx), parts)
	c.stats.revoked.Add(uint64(len(parts)))
	c.cl.ResumeFetchPartitions(revoked)
	if len(parts) > 0 {
		c.log.Info("kafka: partitions revoked", "partitions", revoked)
	}
}

// lost stops the lost partitions without committing: the member was fenced,
// another may own them already, and their records will be delivered again.
func (c *Consumer) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	parts := c.take(lost)
	stopAll(parts)
	c.stats.lost.Add(uint64(len(parts)))
	c.cl.ResumeFetchPartitions(lost)
	if len(parts) > 0 {
		c.log.Warn("kafka: partitions lost, their handled records will be delivered again", "partitions", lost)
	}
}

// take removes the partitions named (all of them for nil) and returns them.
func (c *Consumer) take(which map[string][]int32) []*partition {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*partition
	for tp, p := range c.parts {
		if which == nil || contains(which[tp.topic], tp.partition) {
			out = append(out, p)
			delete(c.parts, tp)
		}
	}
	return out
}

func contains(ps []int32, p int32) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// stopAll stops the partitions and waits for their workers.
func stopAll(parts []*partition) {
	for _, p := range parts {
		p.stop()
	}
	for _, p := range parts {
		<-p.done
	}
}

// commitEvery commits the owned partitions' handled records every interval.
func (c *Consumer) commitEvery(ctx context.Context) {
	t := time.NewTicker(c.cfg.commitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.commitMu.Lock()
		c.mu.Lock()
		parts := make([]*partition, 0, len(c.parts))
		for _, p := range c.parts {
			parts = append(parts, p)
		}
		c.mu.Unlock()
		c.commitLocked(ctx, parts)
		c.commitMu.Unlock()
	}
}

// commitLocked commits, for each partition, the offset after its last handled
// record, if it moved. commitMu is held.
func (c *Consumer) commitLocked(ctx context.Context, parts []*partition) {
	offsets := map[string]map[int32]kgo.EpochOffset{}
	var moved []*partition
	for _, p := range parts {
		if eo, _, ok := p.uncommitted(); ok {
			if offsets[p.topic] == nil {
				offsets[p.topic] = map[int32]kgo.EpochOffset{}
			}
			offsets[p.topic][p.partition] = eo
			moved = append(moved, p)
		}
	}
	if len(moved) == 0 {
		return
	}
	var cerr error
	c.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		cerr = commitError(resp, err)
	})
	if cerr != nil {
		c.stats.commitFailures.Add(1)
		c.log.Warn("kafka: commit failed; the handled records will be delivered again after a crash", "error", cerr)
		return
	}
	c.stats.commits.Add(1)
	for _, p := range moved {
		c.stats.acknowledged.Add(p.committedTo())
	}
}

// commitError returns the commit's error, or the first partition's.
func commitError(resp *kmsg.OffsetCommitResponse, err error) error {
	if err != nil {
		return err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("commit %s/%d: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
