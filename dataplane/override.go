package dataplane

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Method override parameters. Frameworks serve a POST as the method a
// "_method" parameter names: Laravel and Symfony read it from the query
// string and from form bodies, Spring's HiddenHttpMethodFilter from
// either, Rails' Rack::MethodOverride from urlencoded and multipart bodies
// (and from a POST body without Content-Type, which Rack parses as a
// form). The sidecar routed and authorised the request line's method, so
// such a parameter would have the service run another route than the one
// checked (POST /v1/records with write:records reaching DELETE
// /v1/records): like the override headers, it is refused (400).

// overrideParam reports whether the request carries a method override
// parameter: in its query (q), or in a body of a form media type (or of
// none) that frameworks parse into parameters.
func overrideParam(req *fasthttp.Request, q []byte) bool {
	if len(q) > 0 && overrideForm(q) {
		return true
	}
	body := req.Body()
	if len(body) == 0 {
		return false
	}
	ct := req.Header.ContentType()
	mt := ct
	if i := bytes.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = trimOWS(mt)
	switch {
	case len(mt) == 0 || foldEqual(mt, "application/x-www-form-urlencoded"):
		return overrideForm(body)
	case foldPrefix(mt, "multipart/"):
		return overrideMultipart(body, boundaryParam(ct))
	}
	return false
}

// overrideForm reports whether a form-encoded field list (a query string
// or an urlencoded body), split at '&' and at ';' (which Rack 2 also
// takes as a separator), has a field named as a method override.
func overrideForm(form []byte) bool {
	start := 0
	for i, c := range form {
		if c == '&' || c == ';' {
			if overrideField(form[start:i]) {
				return true
			}
			start = i + 1
		}
	}
	return overrideField(form[start:])
}

// overrideField reports whether the name of a form field ("name=value")
// is a method override name. A name shorter than "_method" cannot decode
// to it.
func overrideField(f []byte) bool {
	if len(f) < len("_method") {
		return false
	}
	if eq := bytes.IndexByte(f, '='); eq >= 0 {
		f = f[:eq]
	}
	return overrideName(f)
}

// overrideLead marks the bytes a framework reads as the '_' that starts
// "_method": PHP turns '.', ' ' and an unmatched '[' of a parameter name
// into '_'.
var overrideLead = [256]bool{'_': true, '.': true, ' ': true, '[': true}

// overrideName reports whether a parameter name, decoded as frameworks
// decode it ('+' and %XX escapes, leading blanks dropped as PHP drops
// them), is "_method" in any case and with any overrideLead byte first,
// alone or followed by '[' (PHP's "_method[]") or NUL (where PHP ends a
// name).
func overrideName(name []byte) bool {
	var d [8]byte
	n := 0
	for i := 0; i < len(name) && n < len(d); {
		c, w := formByte(name[i:])
		i += w
		if n == 0 && (c == ' ' || c == '\t') {
			continue
		}
		d[n] = c
		n++
	}
	if n < 7 || !overrideLead[d[0]] || !foldEqual(d[1:7], "method") {
		return false
	}
	return n == 7 || d[7] == '[' || d[7] == 0
}

// formByte decodes the first byte of a form-encoded b: '+' is a space, a
// %XX escape its byte; it returns the byte and how many bytes of b it
// took.
func formByte(b []byte) (byte, int) {
	switch {
	case b[0] == '+':
		return ' ', 1
	case b[0] == '%' && len(b) >= 3 && unhex(b[1]) >= 0 && unhex(b[2]) >= 0:
		return byte(unhex(b[1])<<4 | unhex(b[2])), 3
	}
	return b[0], 1
}

// boundaryParam returns the boundary parameter of a multipart Content-Type
// value, unquoted, or nil.
func boundaryParam(ct []byte) []byte {
	for {
		i := bytes.IndexByte(ct, ';')
		if i < 0 {
			return nil
		}
		ct = ct[skipOWS(ct, i+1):]
		if !foldPrefix(ct, "boundary") {
			continue
		}
		v := ct[skipOWS(ct, len("boundary")):]
		if len(v) == 0 || v[0] != '=' {
			continue
		}
		v = v[skipOWS(v, 1):]
		if len(v) > 0 && v[0] == '"' {
			if j := bytes.IndexByte(v[1:], '"'); j >= 0 {
				return v[1 : 1+j]
			}
			return nil
		}
		if j := bytes.IndexByte(v, ';'); j >= 0 {
			v = v[:j]
		}
		return trimOWS(v)
	}
}

// overrideMultipart reports whether a part of a multipart body has a
// header naming a method override parameter (name="_method"). Every
// occurrence of the boundary is taken as a delimiter, which is stricter
// than the parsers; the header block after it ends at the first empty
// line, and the search goes on after it, so the work is linear in the
// body whatever the boundary.
func overrideMultipart(body, boundary []byte) bool {
	if len(boundary) == 0 {
		return false // no parser finds parts without one
	}
	for {
		i := bytes.Index(body, boundary)
		if i < 0 {
			return false
		}
		body = body[i+len(boundary):]
		end := headerBlockEnd(body)
		if overrideNameParam(body[:end]) {
			return true
		}
		body = body[end:]
	}
}

// headerBlockEnd returns the index of the empty line ("\n\r\n" or "\n\n")
// that ends the part headers at the start of b, or len(b).
func headerBlockEnd(b []byte) int {
	for k := 0; k < len(b); {
		j := bytes.IndexByte(b[k:], '\n')
		if j < 0 {
			return len(b)
		}
		k += j + 1
		if k < len(b) && b[k] == '\n' || k+1 < len(b) && b[k] == '\r' && b[k+1] == '\n' {
			return k
		}
	}
	return len(b)
}

// overrideNameParam reports whether a block of part headers has a "name"
// parameter (not "filename"; any case, blanks around '=', quoted or not)
// whose value is a method override name. The search goes on after each
// value, so each byte of h is read a bounded number of times.
func overrideNameParam(h []byte) bool {
	for k := 0; k+4 <= len(h); k++ {
		if h[k]|0x20 != 'n' || !foldEqual(h[k:k+4], "name") || k > 0 && isLetter(h[k-1]) {
			continue
		}
		v := skipOWS(h, k+4)
		if v == len(h) || h[v] != '=' {
			continue
		}
		v = skipOWS(h, v+1)
		stop := ";\r\n"
		if v < len(h) && h[v] == '"' {
			v, stop = v+1, "\"\r\n"
		}
		end := bytes.IndexAny(h[v:], stop)
		if end < 0 {
			end = len(h) - v
		}
		if overrideName(h[v : v+end]) {
			return true
		}
		k = v + end - 1 // the loop's k++ moves to the byte that ended the value
	}
	return false
}

// skipOWS returns the index of the first byte of b at or after i that is
// not a space or tab, or len(b).
func skipOWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return i
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
