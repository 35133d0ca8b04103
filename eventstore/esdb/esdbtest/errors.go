package esdbtest

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// trailerSetter is the part of a call that carries the server's trailers: the
// client reads the exception and its facts from them.
type trailerSetter interface{ SetTrailer(metadata.MD) }

// unaryCall sets the trailers of a unary call through its context.
type unaryCall struct{ ctx context.Context }

func (u unaryCall) SetTrailer(md metadata.MD) { _ = grpc.SetTrailer(u.ctx, md) }

// streamDeleted is the server's answer to a read, append, delete or subscription of
// a deleted stream: FailedPrecondition with the stream-deleted trailers
// (RpcExceptions.StreamDeleted).
func streamDeleted(call trailerSetter, name string) error {
	call.SetTrailer(metadata.Pairs("exception", "stream-deleted", "stream-name", name))
	return status.Errorf(codes.FailedPrecondition, "Event stream '%s' is deleted.", name)
}
