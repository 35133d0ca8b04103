package brokers

import (
	"context"
	"errors"
	"fmt"

	"github.com/idemkit/idem/aggregate"
	"github.com/idemkit/idem/command"
	"github.com/idemkit/idem/internal/quote"
)

// ErrUndecodable: a message's command could not be decoded: no command type
// header, a type the codec does not know, or a value that does not decode. The
// default classifier dead-letters it with ReasonUndecodable.
var ErrUndecodable = errors.New("undecodable command message")

// Delivery is one message handed to a Handler, with the idempotency key the inbox
// found on it.
type Delivery struct {
	Message
	// IdempotencyKey is the command id to handle the message under: the same on
	// every delivery of the message, whatever its offset.
	IdempotencyKey string
}

// Handler handles the command a message carries. It answers as
// command.Handler.Handle does: a Result for a command applied, a no-op or a
// duplicate, or an error the inbox's classifier sorts into permanent refusals
// (dead-lettered) and unknown outcomes (retried).
type Handler interface {
	Handle(ctx context.Context, d Delivery) (command.Result, error)
}

// HandlerFunc is a function that is a Handler, for handlers that route messages
// to several command handlers or handle one message with several commands.
type HandlerFunc func(ctx context.Context, d Delivery) (command.Result, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, d Delivery) (command.Result, error) {
	return f(ctx, d)
}

// Commands returns a Handler that decodes each message's command with codec and
// hands it to h: the command type is named by the HeaderCommandType header and
// decoded from the value (CommandMessage writes both), the command id is the
// delivery's idempotency key, the aggregate id is the message key, and the
// correlation and causation ids come from their headers. A message that does not
// decode fails with ErrUndecodable.
func Commands[S, C, E any](h *command.Handler[S, C, E], codec *aggregate.Codec[C, E]) Handler {
	return HandlerFunc(func(ctx context.Context, d Delivery) (command.Result, error) {
		c, err := DecodeCommand(codec, d)
		if err != nil {
			return command.Result{}, err
		}
		return h.Handle(ctx, c)
	})
}

// DecodeCommand decodes the command a delivery carries, as Commands does.
func DecodeCommand[C, E any](codec *aggregate.Codec[C, E], d Delivery) (command.Command[C], error) {
	name, ok := d.Header(HeaderCommandType)
	if !ok {
		return command.Command[C]{}, fmt.Errorf("%w: %s has no %s header", ErrUndecodable, d.Source, HeaderCommandType)
	}
	payload, err := codec.DecodeCommand(name, d.Value)
	if err != nil {
		return command.Command[C]{}, fmt.Errorf("%w: %s: %w", ErrUndecodable, d.Source, err)
	}
	correlation, _ := d.Header(HeaderCorrelationID)
	causation, _ := d.Header(HeaderCausationID)
	return command.Command[C]{ID: d.IdempotencyKey, AggregateID: d.Key, Payload: payload,
		CorrelationID: correlation, CausationID: causation}, nil
}

// CommandMessage returns the message that carries c to a Commands handler: keyed
// by its aggregate id (one partition per aggregate, so its commands keep their
// order), its id in the HeaderIdempotencyKey header, its type's registered name in
// HeaderCommandType, the payload encoded by codec. Every copy of one command
// (a producer's retry, a replay's republish) must carry the same id.
func CommandMessage[C, E any](codec *aggregate.Codec[C, E], topic string, c command.Command[C]) (Message, error) {
	if c.ID == "" {
		return Message{}, fmt.Errorf("command message for %s: %w", quote.Q(c.AggregateID), command.ErrEmptyCommandID)
	}
	name, data, err := codec.EncodeCommand(c.Payload)
	if err != nil {
		return Message{}, fmt.Errorf("command message %s: %w", quote.Q(c.ID), err)
	}
	m := Message{Topic: topic, Key: c.AggregateID, Value: data, Headers: []Header{
		{HeaderIdempotencyKey, c.ID}, {HeaderCommandType, name},
	}}
	if c.CorrelationID != "" {
		m.Headers = append(m.Headers, Header{HeaderCorrelationID, c.CorrelationID})
	}
	if c.CausationID != "" {
		m.Headers = append(m.Headers, Header{HeaderCausationID, c.CausationID})
	}
	return m, nil
}
