package esdbtest

import (
	"regexp"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// defaultSearchWindow is the checkpoint interval base when the filter sets none.
const defaultSearchWindow = 32

// filter is a subscription's server-side filter on event type or stream name.
type filter struct {
	onType   bool
	prefixes []string
	re       *regexp.Regexp
	interval int // checkpoint every interval considered events
}

// matches reports whether r passes: its type or stream name matches the regex, or
// starts with one of the prefixes.
func (f *filter) matches(r *record) bool {
	s := r.stream
	if f.onType {
		s = r.typ
	}
	if f.re != nil {
		return f.re.MatchString(s)
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// toFilter reads a subscription's filter; nil when it has none.
func toFilter(o *streams.ReadReq_Options) (*filter, error) {
	fo := o.GetFilter()
	if fo == nil {
		return nil, nil
	}
	f := &filter{}
	var expr *streams.ReadReq_Options_FilterOptions_Expression
	if e := fo.GetEventType(); e != nil {
		f.onType, expr = true, e
	} else {
		expr = fo.GetStreamIdentifier()
	}
	if expr == nil || (expr.GetRegex() == "" && len(expr.GetPrefix()) == 0) {
		return nil, status.Error(codes.InvalidArgument, "subscribe: a filter needs a regex or prefixes")
	}
	if expr.GetRegex() != "" {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "subscribe: invalid filter regex: %v", err)
		}
		f.re = re
	}
	f.prefixes = expr.GetPrefix()
	window := defaultSearchWindow
	if m := fo.GetMax(); m > 0 {
		window = int(m)
	}
	mult := int(fo.GetCheckpointIntervalMultiplier())
	f.interval = window * max(mult, 1)
	return f, nil
}
