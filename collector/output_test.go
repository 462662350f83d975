package collector

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"github.com/portcullis/portcullis/audit"
	"net/http"
	"strings"
	"testing"
	"time"
)

// hostile holds a C1 control (U+009B, the 8-bit CSI that starts terminal
// escape sequences), bidi overrides and isolates and a line separator.
const hostile = "/v1/\u009b31m/\u202eexe.txt\u2066x\u2069\u200f\u061c\u2028"

// Records holding C1 controls and bidirectional characters, sent to a real
// collector and queried back as json and ocsf, carry them only as \u
// escapes, and decode back to the same text.
func TestQueryOutputEscapesControls(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startNamedCollector(t, dir, newTestKey(t), Config{})
	r := sampleRecord(1)
	r.Time = time.Now().UnixNano()
	r.SetPath([]byte(hostile))
	r.SetUserAgent([]byte("ua\u0085\u202d"))
	if got := post(t, srv.URL, aliceToken, encodeBatch("esc-1", r), false); got != 200 {
		t.Fatalf("status %d", got)
	}
	st.Close()
	for _, format := range []string{OutputJSON, OutputOCSF} {
		var out bytes.Buffer
		if _, err := WriteRecords(&out, dir, Filter{}, format); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"\u009b", "\u202e", "\u2066", "\u2069", "\u200f", "\u061c", "\u2028", "\u0085", "\u202d"} {
			if strings.Contains(out.String(), bad) {
				t.Errorf("%s output holds raw %U: %s", format, []rune(bad)[0], out.String())
			}
		}
		var back map[string]any
		if err := json.Unmarshal(out.Bytes(), &back); err != nil {
			t.Fatalf("%s output does not parse: %v", format, err)
		}
		if !strings.Contains(out.String(), `\u009b`) || !strings.Contains(out.String(), `\u202e`) {
			t.Errorf("%s output lacks the escapes: %s", format, out.String())
		}
	}
	got := storedRecords(t, dir)
	if len(got) != 1 || got[0].Path != hostile {
		t.Errorf("stored path %q, want %q", got[0].Path, hostile)
	}
}

// Fields over the collector's caps are cut (and the record flagged), as
// the sidecar cuts them; an overlong batch id is replaced by its digest.
func TestCollectorFieldCaps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startNamedCollector(t, dir, newTestKey(t), Config{})
	long := strings.Repeat("a", 5000)
	body := []byte(`{"resourceLogs":[{"resource":{"attributes":[{"key":"portcullis.batch_id","value":{"stringValue":"` + long + `"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"` +
		itoa(int(time.Now().UnixNano())) + `","attributes":[{"key":"user_agent.original","value":{"stringValue":"` + long + `"}},{"key":"url.path","value":{"stringValue":"` + long + `"}},{"key":"portcullis.tenant","value":{"stringValue":"` + long + `"}}]}]}]}]}`)
	req := postJSON(t, srv.URL, body)
	if req != 200 {
		t.Fatalf("status %d", req)
	}
	st.Close()
	var ids []string
	ScanEntries(dir, func(e *Entry) error { ids = append(ids, e.BatchID); return nil })
	if len(ids) != 1 || len(ids[0]) > maxBatchIDBytes || !strings.HasPrefix(ids[0], "sha256:") {
		t.Errorf("batch ids %q, want one sha256: id of at most %d bytes", ids, maxBatchIDBytes)
	}
	r := storedRecords(t, dir)[0]
	if len(r.UserAgent) != audit.MaxUserAgent || len(r.Path) != audit.MaxPath || len(r.Tenant) != maxFieldBytes || strings.Join(r.Flags, ",") != FlagTruncated {
		t.Errorf("user agent %d, path %d, tenant %d bytes, flags %v; want %d, %d, %d, [%s]",
			len(r.UserAgent), len(r.Path), len(r.Tenant), r.Flags, audit.MaxUserAgent, audit.MaxPath, maxFieldBytes, FlagTruncated)
	}
}

// CSVCell defuses spreadsheet formulas and leaves other text alone; the
// cells survive a round trip through encoding/csv.
func TestCSVCell(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"=HYPERLINK(\"http://x\")": "'=HYPERLINK(\"http://x\")",
		"+1":                       "'+1",
		"-2+3":                     "'-2+3",
		"@SUM(A1)":                 "'@SUM(A1)",
		"\t=1":                     "'\t=1",
		" =1+1":                    "' =1+1",
		"\n=cmd|' /C calc'!A0":     "'\n=cmd|' /C calc'!A0",
		"\u00a0 @SUM(A1)":          "'\u00a0 @SUM(A1)",
		"＝1+1":                     "'＝1+1",
		"  ":                       "  ",
		" acme":                    " acme",
		"acme":                     "acme",
		"":                         "",
		"a=b":                      "a=b",
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	for in, want := range cases {
		if got := CSVCell(in); got != want {
			t.Errorf("CSVCell(%q) = %q, want %q", in, got, want)
		}
		w.Write([]string{CSVCell(in), "x"})
	}
	w.Flush()
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != len(cases) {
		t.Fatalf("csv round trip: %v, %d rows", err, len(rows))
	}
	for _, row := range rows {
		if c := strings.TrimLeft(row[0], " \t\r\n\u00a0"); c != "" && c[0] != '\'' && strings.ContainsRune("=+-@＝", []rune(c)[0]) {
			t.Errorf("cell %q starts with a formula character", c)
		}
	}
}

// postJSON sends an OTLP JSON body as alice and returns the status.
func postJSON(t testing.TB, url string, body []byte) int {
	t.Helper()
	return postJSONAs(t, url, aliceToken, body)
}

// postJSONAs sends an OTLP JSON body with token and returns the status.
func postJSONAs(t testing.TB, url, token string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/logs", bytes.NewReader(body))
	req.Header.Set("Content-Type", FormatJSON)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A foreign OTLP record (an access log of another service: method, path
// and user agent, no status, no Portcullis decision) exported as OCSF
// keeps its http_request. The export left out http_request and
// http_response of every record without a status, which only a refusal
// at the TLS handshake (StoredRecord.RefusedBeforeHTTP) has for a reason:
// the method, path and user agent of foreign records vanished from it.
func TestOCSFForeignRecordWithoutStatusKeepsRequest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startNamedCollector(t, dir, newTestKey(t), Config{})
	body := []byte(`{"resourceLogs":[{"resource":{"attributes":[{"key":"portcullis.batch_id","value":{"stringValue":"foreign-1"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"` +
		itoa(int(time.Now().UnixNano())) + `","attributes":[{"key":"http.request.method","value":{"stringValue":"DELETE"}},{"key":"url.path","value":{"stringValue":"/v1/users/7"}},{"key":"user_agent.original","value":{"stringValue":"curl/8"}}]}]}]}]}`)
	if got := postJSON(t, srv.URL, body); got != 200 {
		t.Fatalf("status %d", got)
	}
	st.Close()
	var out bytes.Buffer
	if _, err := WriteRecords(&out, dir, Filter{}, OutputOCSF); err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Status      string `json:"status"`
		HTTPRequest *struct {
			Method string `json:"http_method"`
			URL    struct {
				Path string `json:"path"`
			} `json:"url"`
			UserAgent string `json:"user_agent"`
		} `json:"http_request"`
		HTTPResponse any `json:"http_response"`
	}
	if err := json.Unmarshal(out.Bytes(), &ev); err != nil {
		t.Fatalf("OCSF %q: %v", out.String(), err)
	}
	if r := ev.HTTPRequest; r == nil || r.Method != "DELETE" || r.URL.Path != "/v1/users/7" || r.UserAgent != "curl/8" {
		t.Errorf("OCSF of a foreign record without a status: %s; want its http_request (DELETE /v1/users/7, curl/8)", out.String())
	}
	if ev.HTTPResponse != nil || ev.Status != "Unknown" {
		t.Errorf("OCSF of a foreign record without a status: %s; want status Unknown and no http_response (no code 0)", out.String())
	}
}
