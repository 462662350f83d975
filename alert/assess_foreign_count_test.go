package alert

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestAssessForeignClientCountNotBelieved: the collector believes a count
// up to collector.MaxRequestsPerClientRecord on a verified client's limit refusal (the sidecar folds
// them, audit TestClientRateLimitFloodFolded), and a sender bound to acme
// may store records of acme and of no tenant. It stored two rate_limited
// records naming globex-bi, globex's client, one of no tenant and one of
// acme, each of the largest count believed: incident assess of globex-bi counted
// twice that many refusals of it, a sidecar of acme writing globex's client's
// record. The sidecar names a client's tenant on every record naming the
// client, and only its own: such a record counts one request, in the
// assessment as in tenants top.
func TestAssessForeignClientCountNotBelieved(t *testing.T) {
	t.Parallel()
	at := time.Now().UTC().Add(-time.Minute)
	refused := func(tenant, client string) collector.StoredRecord {
		return collector.StoredRecord{Time: at, Tenant: tenant, Client: client, Method: "GET", Route: "/v1/reports",
			Status: 429, Decision: "rate_limited", Limit: "key", SourceIP: "198.51.100.4", Count: collector.MaxRequestsPerClientRecord}
	}
	recs := []collector.StoredRecord{refused("", "globex-bi"), refused("acme", "globex-bi"), refused("globex", "globex-bi")}
	a := assessStored(t, "globex-bi", recs)
	if want := int64(1 + 1 + collector.MaxRequestsPerClientRecord); a.Records != want {
		t.Errorf("records %d (tenants %v); want %d: a count naming globex-bi under no tenant or another tenant's is not its sidecar's fold", a.Records, a.Tenants, want)
	}
}

// TestAssessBoundSenderUntenantedKeyCountNotBelieved: a refusal of no
// tenant passes any sender's binding (a 401 names no tenant), and one
// naming a key id is about the key's client. Detection takes it for that
// client only from a sender bound to the client's tenant, or to none
// (TestBoundSenderUntenantedRecordNotContained), and incident assess had
// its own copy of the tenant rule, without that part: a sender bound to
// acme stored a folded 401 naming globex-bi's key id with count 50,000,
// and the assessment of globex-bi counted 50,000 guesses at its key. Who
// a record is about is now one function (index.subject) for both: such a
// record counts one request; from a sender bound to globex, its count.
func TestAssessBoundSenderUntenantedKeyCountNotBelieved(t *testing.T) {
	t.Parallel()
	at := time.Now().UTC().Add(-time.Minute)
	guesses := []collector.StoredRecord{{Time: at, KeyID: "globexbi1", Method: "GET", Route: "/v1/reports",
		Status: 401, Decision: "unauthenticated", SourceIP: "203.0.113.7", Count: 50_000}}
	for _, tc := range []struct {
		bound string
		want  int64
	}{{"acme", 1}, {"globex", 50_000}, {"", 50_000}} {
		if a := assessStoredBound(t, "globex-bi", tc.bound, guesses); a.Records != tc.want {
			t.Errorf("sender bound to %q: records %d, want %d", tc.bound, a.Records, tc.want)
		}
	}
}
