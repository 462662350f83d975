package inject

import (
	"encoding/json"
	"strconv"
)

// The objects are JSON-shaped generic values: map[string]any, []any,
// string, bool and the numbers of the decoder (float64, int, int64 or
// json.Number). These helpers read them without panicking on a value of
// the wrong type: a malformed object is left to the API server to refuse.

// child returns m[key] as an object, creating it (in m) when absent or
// not an object.
func child(m map[string]any, key string) map[string]any {
	if c, ok := m[key].(map[string]any); ok {
		return c
	}
	c := map[string]any{}
	m[key] = c
	return c
}

// object returns m[key] as an object, or nil.
func object(m map[string]any, key string) map[string]any {
	c, _ := m[key].(map[string]any)
	return c
}

// objects returns the objects of the list m[key]; other items are skipped.
func objects(m map[string]any, key string) []map[string]any {
	l, _ := m[key].([]any)
	out := make([]map[string]any, 0, len(l))
	for _, v := range l {
		if o, ok := v.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

// integer returns v as an int when it is a whole number.
func integer(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case uint64:
		return int(n), true
	case float64:
		return int(n), n == float64(int(n))
	case json.Number:
		i, err := strconv.Atoi(string(n))
		return i, err == nil
	}
	return 0, false
}

// str returns m[key] as a string, or "".
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// plainNumbers replaces the json.Numbers in v (from a decoder with
// UseNumber) by int64, or float64 when not whole, so that a YAML encoder
// writes them as numbers (it would quote a json.Number).
func plainNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = plainNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = plainNumbers(e)
		}
	}
	return v
}
