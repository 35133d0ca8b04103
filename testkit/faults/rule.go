package faults

import (
	"strings"
	"time"
)

// Kind names a fault.
type Kind uint8

// The faults a Rule can inject.
const (
	// KindLostAck: the append is written, then an error is returned.
	KindLostAck Kind = iota + 1
	// KindFailBeforeAppend: the append fails and nothing is written.
	KindFailBeforeAppend
	// KindFailRead: a read yields some events, then an error.
	KindFailRead
	// KindDropSubscription: a subscription delivers some events, then ends with an error.
	KindDropSubscription
	// KindDelay: the call waits before it runs.
	KindDelay
)

func (k Kind) String() string {
	switch k {
	case KindLostAck:
		return "lost-ack"
	case KindFailBeforeAppend:
		return "fail-before-append"
	case KindFailRead:
		return "fail-read"
	case KindDropSubscription:
		return "drop-subscription"
	case KindDelay:
		return "delay"
	default:
		return "unknown-fault"
	}
}

// Op names a Store method.
type Op uint8

// The store methods a Rule can apply to.
const (
	OpAppend Op = 1 << iota
	OpReadStream
	OpReadAll
	OpSubscribeAll
)

func (o Op) String() string {
	switch o {
	case OpAppend:
		return "append"
	case OpReadStream:
		return "read-stream"
	case OpReadAll:
		return "read-all"
	case OpSubscribeAll:
		return "subscribe-all"
	default:
		return "unknown-op"
	}
}

// Rule is one fault and its schedule. Build rules with LostAck, FailBeforeAppend,
// FailReadAfter, DropSubscriptionAfter and Delay; narrow them with On and
// ForStreams. A Rule is a value: the counting of calls happens in the Store it is
// given to, so one Rule can be given to several stores.
type Rule struct {
	kind     Kind
	ops      Op
	schedule Schedule
	after    int           // FailReadAfter, DropSubscriptionAfter: events before the failure
	delay    time.Duration // Delay
	prefixes []string
}

// LostAck writes the append to the inner store and then returns an error, as when
// a commit succeeds but its acknowledgement is lost: the caller can't tell it was
// written. If the inner append fails, its error is returned and nothing is
// injected. A retry with the same event ids must succeed (G2).
func LostAck(s Schedule) Rule { return Rule{kind: KindLostAck, ops: OpAppend, schedule: s} }

// FailBeforeAppend fails the append without calling the inner store: nothing is
// written.
func FailBeforeAppend(s Schedule) Rule {
	return Rule{kind: KindFailBeforeAppend, ops: OpAppend, schedule: s}
}

// FailReadAfter makes ReadStream and ReadAll yield k events and then an error. A
// read with k events or fewer yields the error after its last event: it still
// fails, as a connection lost before the end of the read would. k <= 0 fails the
// read before its first event.
func FailReadAfter(k int, s Schedule) Rule {
	return Rule{kind: KindFailRead, ops: OpReadStream | OpReadAll, schedule: s, after: max(k, 0)}
}

// DropSubscriptionAfter makes SubscribeAll deliver k events (the CaughtUp signal
// passes through and is not counted) and then end with an error, as a dropped
// connection does. k <= 0 drops it before its first event.
func DropSubscriptionAfter(k int, s Schedule) Rule {
	return Rule{kind: KindDropSubscription, ops: OpSubscribeAll, schedule: s, after: max(k, 0)}
}

// Delay makes a call wait d before it runs (a subscription waits once, before it
// starts). It applies to every method unless narrowed with On. A delayed call
// whose context ends while waiting fails with the context's error.
func Delay(d time.Duration, s Schedule) Rule {
	return Rule{kind: KindDelay, ops: OpAppend | OpReadStream | OpReadAll | OpSubscribeAll, schedule: s, delay: d}
}

// On narrows r to the given methods, among those its fault applies to. It returns
// the narrowed copy.
func (r Rule) On(ops ...Op) Rule {
	var mask Op
	for _, o := range ops {
		mask |= o
	}
	r.ops &= mask
	return r
}

// ForStreams narrows r to appends and stream reads whose stream name starts with
// one of prefixes. A rule narrowed this way no longer applies to ReadAll or
// SubscribeAll, which name no stream. It returns the narrowed copy.
func (r Rule) ForStreams(prefixes ...string) Rule {
	r.prefixes = append(append([]string(nil), r.prefixes...), prefixes...)
	r.ops &^= OpReadAll | OpSubscribeAll
	return r
}

// applies reports whether r concerns a call of op on stream ("" for ReadAll and
// SubscribeAll).
func (r *Rule) applies(op Op, stream string) bool {
	if r.ops&op == 0 {
		return false
	}
	if len(r.prefixes) == 0 {
		return true
	}
	for _, p := range r.prefixes {
		if strings.HasPrefix(stream, p) {
			return true
		}
	}
	return false
}
