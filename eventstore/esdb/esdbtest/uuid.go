package esdbtest

import (
	"errors"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/google/uuid"
)

// fromProtoUUID decodes either wire form of an event id.
func fromProtoUUID(u *shared.UUID) (uuid.UUID, error) {
	if u == nil {
		return uuid.Nil, errors.New("missing id")
	}
	if st := u.GetStructured(); st != nil {
		var b [16]byte
		putUint64(b[:8], uint64(st.GetMostSignificantBits()))
		putUint64(b[8:], uint64(st.GetLeastSignificantBits()))
		return uuid.UUID(b), nil
	}
	return uuid.Parse(u.GetString_())
}

// toProtoUUID encodes id in the form the read asked for.
func toProtoUUID(id uuid.UUID, asString bool) *shared.UUID {
	if asString {
		return &shared.UUID{Value: &shared.UUID_String_{String_: id.String()}}
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits:  int64(getUint64(id[:8])),
		LeastSignificantBits: int64(getUint64(id[8:])),
	}}}
}

func putUint64(b []byte, v uint64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

func getUint64(b []byte) uint64 {
	var v uint64
	for _, x := range b[:8] {
		v = v<<8 | uint64(x)
	}
	return v
}
