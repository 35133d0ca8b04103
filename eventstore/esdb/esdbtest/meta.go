package esdbtest

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// softDeletedTB is the $tb a soft delete writes (long.MaxValue, the server's
// EventNumber.DeletedStream): the stream then reads as not found.
const softDeletedTB = math.MaxInt64

// streamMeta is what the server acts on in a stream's metadata: the last event of
// its metastream "$$<stream>" (IndexReader.GetStreamMetadataUncached). Reads of the
// stream hide the events these keys cut off; the events stay in $all, which ignores
// stream metadata, and nothing is removed (only a scavenge would).
type streamMeta struct {
	tb       uint64        // $tb, truncate before: revisions below it are hidden (0: none)
	maxCount uint64        // $maxCount: only the last maxCount revisions are visible (0: no limit)
	maxAge   time.Duration // $maxAge: events older than this are hidden (0: no limit)
}

func (m streamMeta) softDeleted() bool { return m.tb == softDeletedTB }

// metastreamMeta is the fixed metadata of every metastream ($maxCount 1,
// ESConsts.MetaStreamMaxCount): only the latest metadata is readable, which the
// client's GetStreamMetadata relies on (it reads forwards from the start, count 1).
var metastreamMeta = streamMeta{maxCount: 1}

// isMetastream reports whether name is a metastream "$$<stream>".
func isMetastream(name string) bool { return strings.HasPrefix(name, "$$") }

// jsonInteger is a JSON number the server's reader takes as an integer token.
var jsonInteger = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// parseMeta reads a metadata event as StreamMetadata.TryFromJsonBytes does: data
// that is empty, not JSON by content type, not an object, or with a system key of
// the wrong type (or an integer beyond int64) counts as no metadata at all; a
// non-positive $maxCount or $maxAge, or a negative $tb, is ignored on its own.
func parseMeta(contentType string, data []byte) streamMeta {
	if len(data) == 0 || contentType != "application/json" {
		return streamMeta{}
	}
	var keys map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&keys); err != nil || keys == nil {
		return streamMeta{}
	}
	var m streamMeta
	for key, raw := range keys {
		switch key {
		case "$maxCount", "$maxAge", "$tb", "$cacheControl":
			n, ok := metaInteger(raw)
			if !ok {
				return streamMeta{}
			}
			switch {
			case key == "$maxCount" && n > 0:
				m.maxCount = uint64(n)
			case key == "$maxAge" && n > 0:
				m.maxAge = time.Duration(min(n, math.MaxInt64/int64(time.Second))) * time.Second
			case key == "$tb" && n >= 0:
				m.tb = uint64(n)
			}
		case "$tmp":
			var b bool
			if json.Unmarshal(raw, &b) != nil {
				return streamMeta{}
			}
		case "$acl":
			if !validACL(raw) {
				return streamMeta{}
			}
		}
	}
	return m
}

// metaInteger parses a system key's value: an integer token that fits in int64.
func metaInteger(raw json.RawMessage) (int64, bool) {
	s := strings.TrimSpace(string(raw))
	if !jsonInteger.MatchString(s) {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// validACL reports whether an $acl value has the shape the server reads: an object
// whose known role keys hold a string or an array of strings.
func validACL(raw json.RawMessage) bool {
	var acl map[string]json.RawMessage
	if json.Unmarshal(raw, &acl) != nil || acl == nil {
		return false
	}
	for key, roles := range acl {
		switch key {
		case "$r", "$w", "$d", "$mr", "$mw":
			var one string
			var many []string
			if json.Unmarshal(roles, &one) != nil && json.Unmarshal(roles, &many) != nil {
				return false
			}
		}
	}
	return true
}

// withTB returns raw metadata with $tb set to tb, other keys kept, as the server
// rewrites a soft-deleted stream's metadata when it is written to again
// (StorageWriterService.SoftUndeleteRawMeta). ok is false when raw is not a JSON
// object: the server then writes nothing and the stream stays deleted.
func withTB(raw []byte, tb uint64) (out []byte, ok bool) {
	var keys map[string]json.RawMessage
	if json.Unmarshal(raw, &keys) != nil || keys == nil {
		return nil, false
	}
	keys["$tb"] = json.RawMessage(strconv.FormatUint(tb, 10))
	out, err := json.Marshal(keys)
	return out, err == nil
}
