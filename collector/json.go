package collector

import (
	"strconv"

	"github.com/portcullis/portcullis/audit"
)

// appendStringField appends name (the JSON key with its punctuation) and s
// as an escaped JSON string, the way the sidecar's records are written.
func appendStringField(dst []byte, name, s string) []byte {
	return audit.AppendJSONString(append(dst, name...), s)
}

// appendIntField appends name and v as a JSON number.
func appendIntField(dst []byte, name string, v int64) []byte {
	return strconv.AppendInt(append(dst, name...), v, 10)
}

// appendJSONString appends s as a quoted, escaped JSON string.
func appendJSONString(dst []byte, s string) []byte {
	return audit.AppendJSONString(dst, s)
}
