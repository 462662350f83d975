package dataplane

import (
	"strconv"
	"strings"
	"testing"
)

// Finding (review75): the JSON scans read a body as strict JSON, in which
// '/' outside a string is an error, but the json gem Rails parses request
// bodies with (ActiveSupport::JSON.decode) skips "/* */" and "//" comments
// wherever it skips blanks (its Ragel grammar's ignore rule), as
// Newtonsoft.Json and JSON5 readers do. So {/**/"access_token":...}
// reached Doorkeeper, which reads request.parameters[:access_token], as
// a member the scan never saw (it stopped at the '/': "not JSON"), and
// a comment holding a quote, {/*"*/"tenant":"globex"}, turned the scan's
// strings inside out, so a tenant member went on beside acme's path.

// TestJSONCommentsHideNoMember sends, over a real socket, an acme key's
// JSON bodies in which comments come before, around or after a token's,
// _method's or tenant's member: each is refused 400 and nothing reaches
// the upstream. Comment-like text inside strings goes on.
func TestJSONCommentsHideNoMember(t *testing.T) {
	const records, tenant = "/v1/records", "/v1/tenants/acme/records"
	tok := mint(t, demoClaims("globex-bi", "globex", "read:users"))
	postJSONBodies(t, tok, []jsonCase{
		{records, `{/**/"access_token":"` + tok + `"}`, true},
		{records, "{ // a line comment\n\"bearer_token\":\"" + tok + `"}`, true},
		{records, `/* lead */{"api_token":"` + tok + `"}`, true},
		{records, `{"a":1/*,*/,"access_token":"` + tok + `"}`, true},
		{records, `{"a":[/*"]*/1],"access_token":"` + tok + `"}`, true},
		{records, `{"a":{/*}*/},/*"*/"_method":"DELETE"}`, true},
		{tenant, `{/*"*/"tenant":"globex"}`, true},
		{tenant, `{"tenant"/**/:"globex"}`, true},
		{tenant, `{"q":{"tenant"/* " */:"globex"}}`, true},
		{tenant, "{\"q\":{\"tenant\"//\n:\"globex\"}}", true},
		{records, `{"note":"/* access_token */","url":"http://x//access_token"}`, false},
		{tenant, `{"note":"/*","tenant_id":"globex","x":"*/"}`, false},
	})
}

// Finding (read76): the scans end a "//" comment at '\n', as the json
// gem does, but Newtonsoft.Json, which skipJSONIgnore's comment names as
// well, ends one at '\r' too (JsonTextReader.ParseComment). So
// {//<CR>"tenant":"globex"} was one comment to the scan, and a member
// tenant to an ASP.NET service binding its body with Newtonsoft; read the
// other way, the json gem would hide what follows the '\r'. A lone '\r'
// after a "//" on its line is refused; CRLF lines read the same to both.

// TestJSONLineCommentCRIsRefused sends, over a real socket, an acme
// key's JSON bodies in which a lone CR follows "//": refused 400, nothing
// forwarded. A comment on a CRLF line goes on.
func TestJSONLineCommentCRIsRefused(t *testing.T) {
	const records, tenant = "/v1/records", "/v1/tenants/acme/records"
	tok := mint(t, demoClaims("globex-bi", "globex", "read:users"))
	postJSONBodies(t, tok, []jsonCase{
		{tenant, "{//\r\"tenant\":\"globex\"}", true},
		{tenant, "{\"q\":1 // x\r,\"tenant\":\"globex\"}", true},
		{records, "{//\r\"access_token\":\"" + tok + "\"}", true},
		{records, "{ // a note\r\n\"a\":1}", false},
		{tenant, "{\"url\":\"http://x\",\r\n\"a\":1}", false},
	})
}

// Finding (review79): JSON5 readers end a "//" comment at U+2028 and
// U+2029 as well as at '\n' and '\r', and read them as blanks; the scans
// end one at '\n' only. So {"q":1 //<U+2028>,"tenant":"globex"<LF>} held
// a member tenant to a service parsing its bodies with a JSON5 reader,
// and a comment to the scan. Such a comment is refused, as one ended by a
// lone '\r' is; U+2028 in a string, beside a URL's "//", goes on.

// TestJSONLineCommentLineSepIsRefused sends, over a real socket, an acme
// key's JSON bodies in which U+2028 or U+2029 stands inside a "//"
// comment: refused 400, nothing forwarded. The same characters in
// strings, on the line of a URL, go on.
func TestJSONLineCommentLineSepIsRefused(t *testing.T) {
	const records, tenant = "/v1/records", "/v1/tenants/acme/records"
	tok := mint(t, demoClaims("globex-bi", "globex", "read:users"))
	postJSONBodies(t, tok, []jsonCase{
		{tenant, "{\"q\":1 //\u2028,\"tenant\":\"globex\"\n}", true},
		{tenant, "{//\u2029\"tenant\":\"globex\"}", true},
		{tenant, "{'a':'\"', // x\u2028 \"tenant\":\"globex\"\n}", true}, // JSON5's quote hides no comment
		{records, "{// note\u2028\"access_token\":\"" + tok + "\"\n}", true},
		{records, "{\"url\":\"http://x\",\"note\":\"a\u2028b\u2029c\"}", false},
		{records, "{\"a\":1 /* \u2028 */,\"b\":\"//\u2029\"}", false},
	})
}

// jsonCase is a JSON body POSTed to target, and whether it is refused.
type jsonCase struct {
	target, body string
	refused      bool
}

// postJSONBodies POSTs, over a real socket to a stack serving
// tenantParamRoutes without limits, each case's body as application/json
// with acme-hris's key, and checks that it is refused 400 with nothing
// forwarded, or answered 200 and forwarded once; tok, a token the bodies
// may carry, is written TOKEN in the messages: the rig of the JSON
// comment tests.
func postJSONBodies(t *testing.T, tok string, cases []jsonCase) {
	t.Helper()
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, tenantParamRoutes)
	st.store.Swap(withoutLimits(t, st.store.Load()))
	for _, c := range cases {
		n := len(rec.received())
		r := raw(t, st.addr, "POST "+c.target+" HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: "+hrisKey+
			"\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(c.body))+"\r\n\r\n"+c.body)
		reached := len(rec.received()) - n
		what := c.target + " " + strconv.Quote(strings.ReplaceAll(c.body, tok, "TOKEN"))
		switch {
		case c.refused && (r.status != 400 || reached != 0):
			t.Errorf("POST %s as acme-hris: %d, reached the upstream %d times; want 400 and nothing forwarded", what, r.status, reached)
		case !c.refused && (r.status != 200 || reached != 1):
			t.Errorf("POST %s as acme-hris: %d %s, reached the upstream %d times; want 200, forwarded", what, r.status, r.body, reached)
		}
	}
}
