package collector

import (
	"io"
	"net/http"
	"strconv"

	"github.com/portcullis/portcullis/audit"
)

// The collector's answers: the OTLP export response, and errors in the
// JSON error shape ({"error":...,"message":...,"request_id":...}),
// counted by reason.

// unauthorized answers 401 and closes the connection.
func (c *Collector) unauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="portcullis-collector"`)
	w.Header().Set("Connection", "close")
	c.fail(w, r, rejectUnauthenticated, http.StatusUnauthorized, "unauthenticated", "a valid bearer token or client certificate is required")
	BoundDrain(w)
}

// readOnly reports whether r's method is GET or HEAD, which /metrics,
// /healthz and /readyz answer; any other it refuses 405 with "Allow: GET,
// HEAD" (RFC 9110 section 15.5.6). A POST was answered as a GET
// (TestProbesRefuseOtherMethods).
func (c *Collector) readOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	c.fail(w, r, rejectMethod, http.StatusMethodNotAllowed, "method_not_allowed", "use GET or HEAD")
	return false
}

// writeExportResponse answers an empty ExportLogsServiceResponse (full
// success) in the request's format.
func writeExportResponse(w http.ResponseWriter, format string) {
	w.Header().Set("Content-Type", format)
	if format == FormatJSON {
		io.WriteString(w, "{}")
	}
}

// fail writes the JSON error shape every Portcullis component answers with.
func (c *Collector) fail(w http.ResponseWriter, r *http.Request, reason, status int, code, msg string) {
	c.rejects[reason].Add(1)
	id := r.Header.Get("X-Request-ID")
	if !wellFormedID(id) {
		id = "col-" + strconv.FormatUint(c.reqSeq.Add(1), 10)
	}
	writeError(w, status, code, msg, id)
}

// WriteError writes the JSON error shape every Portcullis component
// answers with, for handlers served beside the intake (the Alertmanager
// webhook): its request_id is the request's X-Request-ID when well formed,
// else id.
func WriteError(w http.ResponseWriter, r *http.Request, status int, code, msg, id string) {
	if rid := r.Header.Get("X-Request-ID"); wellFormedID(rid) {
		id = rid
	}
	writeError(w, status, code, msg, id)
}

// writeError writes the JSON error shape with request id id.
func writeError(w http.ResponseWriter, status int, code, msg, id string) {
	buf := appendStringField(make([]byte, 0, 128), `{"error":`, code)
	buf = appendStringField(buf, `,"message":`, msg)
	buf = appendStringField(buf, `,"request_id":`, id)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-ID", id)
	w.WriteHeader(status)
	w.Write(append(buf, "}\n"...))
}

func wellFormedID(id string) bool {
	if id == "" || len(id) > audit.MaxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
