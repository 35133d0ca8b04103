// Package jsonsize bounds the size of a value's JSON encoding from below without
// encoding it, so that a huge value is refused before it is encoded (G11).
package jsonsize

import (
	"encoding"
	"encoding/json"
	"reflect"
)

var (
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	rawMessageType    = reflect.TypeFor[json.RawMessage]()
)

// Floor returns a lower bound of the size of v's JSON encoding, walking v without
// encoding it, and stops as soon as the bound passes limit: a 100 MB payload is
// refused after reading one string's length, not after encoding it (G11).
//
// Every string counts its bytes (escaping only adds), every element of a slice,
// array or map at least one byte; numbers, booleans, field names and values of
// types with their own MarshalJSON or MarshalText count nothing, so the bound never
// exceeds the real size (those are measured once encoded). json.RawMessage counts
// its bytes.
func Floor(v any, limit int) int {
	w := floorWalker{limit: limit}
	w.value(reflect.ValueOf(v), 0)
	return w.n
}

type floorWalker struct {
	n, limit int
	seen     map[uintptr]bool // pointers being walked: a cycle is walked once
}

// maxFloorDepth bounds the walk; encoding/json itself refuses deeper cycles.
const maxFloorDepth = 64

func (w *floorWalker) value(v reflect.Value, depth int) {
	if w.n > w.limit || depth > maxFloorDepth || !v.IsValid() {
		return
	}
	t := v.Type()
	if t == rawMessageType {
		w.n += v.Len()
		return
	}
	if t.Implements(jsonMarshalerType) || t.Implements(textMarshalerType) {
		return
	}
	switch v.Kind() {
	case reflect.String:
		w.n += v.Len()
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return
		}
		w.n += v.Len()
		if t.Elem().Kind() == reflect.Uint8 {
			return // bytes: base64, at least one character per byte counted above
		}
		for i := 0; i < v.Len() && w.n <= w.limit; i++ {
			w.value(v.Index(i), depth+1)
		}
	case reflect.Map:
		w.n += v.Len()
		for it := v.MapRange(); it.Next() && w.n <= w.limit; {
			w.value(it.Key(), depth+1)
			w.value(it.Value(), depth+1)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField() && w.n <= w.limit; i++ {
			if f := t.Field(i); f.IsExported() && f.Tag.Get("json") != "-" {
				w.value(v.Field(i), depth+1)
			}
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		p := v.Pointer()
		if w.seen[p] {
			return
		}
		if w.seen == nil {
			w.seen = map[uintptr]bool{}
		}
		w.seen[p] = true
		w.value(v.Elem(), depth+1)
		delete(w.seen, p)
	case reflect.Interface:
		w.value(v.Elem(), depth+1)
	}
}
