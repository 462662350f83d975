package collector

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// StoredRecord is an audit record as the collector stores and queries it.
// Records from portcullis sidecars fill the named fields; records from other
// OTLP clients keep their log body in Body and every attribute the
// collector does not map in Attributes (values as strings).
type StoredRecord struct {
	Time             time.Time         `json:"time"`
	Tenant           string            `json:"tenant"`
	Client           string            `json:"client"`
	KeyID            string            `json:"key_id"`
	AuthMethod       string            `json:"auth_method"`
	Issuer           string            `json:"issuer"`
	TokenFingerprint string            `json:"token_fingerprint,omitempty"`
	Method           string            `json:"method"`
	Route            string            `json:"route"`
	Path             string            `json:"path"`
	Status           int64             `json:"status"`
	Decision         string            `json:"decision"`
	Limit            string            `json:"limit,omitempty"` // the limit that refused the request (audit.Limit: key, tenant, class, concurrency); "" for none, and in records of sidecars before it
	RequestID        string            `json:"request_id"`
	ApprovalID       string            `json:"approval_id,omitempty"` // the approval a privileged request named (issue 20)
	CertSerial       string            `json:"cert_serial,omitempty"` // a client certificate refused at the TLS handshake: its serial, hex
	CertIssuer       string            `json:"cert_issuer,omitempty"` // and the SHA-256 of its issuer's DER subject, hex
	SourceIP         string            `json:"source_ip"`
	BytesIn          int64             `json:"bytes_in"`
	BytesOut         int64             `json:"bytes_out"`
	DurationUS       int64             `json:"duration_us"`
	UserAgent        string            `json:"user_agent"`
	PolicyRevision   int64             `json:"policy_revision"`
	Count            int64             `json:"count,omitempty"` // requests an aggregated record stands for; 0 for one
	Cut              string            `json:"cut,omitempty"`   // audit.CutClient: the client's connection failed before the whole response left; "" for a response that left whole, and in records of sidecars before it
	Body             string            `json:"body,omitempty"`
	Attributes       map[string]string `json:"attributes,omitempty"`
	// Flags say what the collector noticed about the record
	// (FlagTimeOutsideWindow, FlagTruncated).
	Flags []string `json:"flags,omitempty"`
	// Sender is the batch's sender, filled by QueryRecords from the
	// chain entry (it is stored once per batch, not per record).
	Sender string `json:"sender,omitempty"`
	// Pod is the batch's pod (k8s.pod.name), filled by QueryRecords like
	// Sender.
	Pod string `json:"pod,omitempty"`
	// Received is when the collector stored the record (its entry's
	// time), filled by QueryRecords and ReadStore like Sender; a Filter
	// selects a record dated ahead of its receipt by it too.
	Received time.Time `json:"-"`
	// SenderBound says the batch's sender was bound to tenants when the
	// collector stored it, so the record's tenant was checked against
	// them (Entry.BoundTenants), filled like Sender; false means the
	// tenant is the sender's claim alone.
	SenderBound bool `json:"-"`

	// RequestIDSource is IDFromClient when the request id is the client's
	// X-Request-ID, kept (audit.RequestIDFromClient, "request_id_source"
	// in JSON); zero for one the sidecar made, and in records of sidecars
	// before it. One byte, in the padding after SenderBound: a string
	// grew every decoded record by 16 bytes, past the decoded-bytes
	// limit for a body limit's worth of a sidecar's emptiest records
	// (TestDecodedBytesLimit).
	RequestIDSource IDSource `json:"request_id_source,omitempty"`
	// BoundTenants are the tenants the batch's sender was bound to,
	// sorted and comma-separated (Entry.BoundTenants), "" when it was
	// bound to none; filled like SenderBound, and by the store for
	// detection. A record of no tenant passes the binding, and detection
	// takes its tenant from its key or client only among these
	// (alert: TestBoundSenderUntenantedRecordNotContained).
	BoundTenants string `json:"-"`
}

// BoundTo reports whether the sender of r was bound to tenant, or to
// none (any tenant was its to name).
func (r *StoredRecord) BoundTo(tenant string) bool {
	if r.BoundTenants == "" {
		return true
	}
	for t := range strings.SplitSeq(r.BoundTenants, ",") {
		if t == tenant {
			return true
		}
	}
	return false
}

// StatusBeforeHTTP is how reports name the status of a record without an
// HTTP status: a connection refused before any request was read, such as
// a client certificate a CRL refused at the TLS handshake (decisions
// cert_revoked and cert_crl_expired, status 0).
const StatusBeforeHTTP = "before_http"

// RefusedBeforeHTTP reports whether s is a refusal with no HTTP status:
// the connection was refused before a request was read (the TLS
// handshake). A foreign OTLP record without a status or a decision is not.
func (s *StoredRecord) RefusedBeforeHTTP() bool {
	return s.Status == 0 && s.Decision != "" && s.Decision != "allowed"
}

// MaxRequestsPerRecord is the most requests one record is believed to
// stand for: audit.MaxFoldCount, the most the sidecar's emitter counts in
// one folded record, of either kind it folds (it closes a group there and
// opens another). A group is one second of one sidecar
// (audit/emitter_aggregate.go), which no cap of the data plane bounds: a
// refusal holds no in-flight slot. A larger count, which only a sidecar
// of a version before that bound (or a forger) writes, counts
// MaxRequestsPerRecord and is counted not believed (CountNotBelieved):
// before, a fold of denials without a verified credential was believed up
// to 2^32, and a verified client's limit refusal past 65,536 counted one
// (TestFoldCountHeldAtTheSidecarsBound). Held, not one: a record of an
// older sidecar stood for at least that many refusals, and a forger gains
// nothing it could not write as 65,536.
const MaxRequestsPerRecord = audit.MaxFoldCount

// MaxRequestsPerClientRecord is the most requests a record naming a
// client is believed to stand for: MaxRequestsPerRecord, as for every
// folded record. Before, the ceiling was 1,000,000, which no sidecar's
// record reaches, and a sender bound to a tenant charged its clients that
// many refusals a record (TestClientCountCeilingIsTheSidecars).
const MaxRequestsPerClientRecord = MaxRequestsPerRecord

// Requests is how many requests s stands for: its count, held at
// MaxRequestsPerRecord, when it has the shape of a record the sidecar
// folds; else 1. The sidecar folds denials naming no tenant, no client
// and no verified token (a sum of TLS handshake refusals is one too), and
// a verified client's limit refusal (audit.ClientFolds: rate_limited
// naming a token bucket, concurrency_limited naming an in-flight cap, as
// the data plane names them: one naming another limit or an unknown one
// counted a million refusals by a limit that cannot have refused them,
// TestClientCountOnlyWithItsLimit; answered 429: a count on one with
// another status, which the sidecar never writes, counted a million
// requests of a tenant none of which was throttled,
// TestClientCountOnlyOnA429; and naming the client's tenant, as the
// sidecar does: one naming none passes any sender's tenant binding,
// TestAssessForeignClientCountNotBelieved), which the sidecar folds while its
// spool is above half full so that one client's flood past its own limit
// does not push the other tenants' records out (audit
// TestClientRateLimitFloodFolded). The count is the sender's to
// write: one allowed record of a tenant's client with count 2^32 made that
// tenant 100% of the period's requests in tenants top and the evidence
// pack, and its integration billions of requests, from a sender bound to
// that tenant alone (TestCountOnlyOnAggregatedRecords). A sender can still
// charge its own tenants' limit refusals up to the ceiling per record: the
// tenant binding of senders (--cert-tenants, tenants= of a token) bounds
// whose, and the store the sum of a sender's counts in one second
// (MaxSenderRequestsPerSecond: a record past it is stored flagged
// FlagCountPastSenderCeiling and counts one, as does one dated before the
// seconds its sender's sums are kept for, FlagCountOutsideSenderWindow:
// ceiling.go). Detection,
// incident assess, tenants top and the evidence pack all read this one
// method.
func (s *StoredRecord) Requests() int64 {
	if s.Count <= 1 || !s.foldShape() || s.pastSenderCeiling() {
		return 1
	}
	return min(s.Count, MaxRequestsPerRecord)
}

// pastSenderCeiling reports whether the store flagged s
// FlagCountPastSenderCeiling (its sender's believed counts of its second
// had reached MaxSenderRequestsPerSecond) or FlagCountOutsideSenderWindow
// (its second was before the seconds its sender's sums are kept for):
// ceiling.go.
func (s *StoredRecord) pastSenderCeiling() bool {
	return len(s.Flags) > 0 && (slices.Contains(s.Flags, FlagCountPastSenderCeiling) || slices.Contains(s.Flags, FlagCountOutsideSenderWindow))
}

// foldShape reports whether s has the shape of a record the sidecar
// folds (Requests).
func (s *StoredRecord) foldShape() bool {
	switch {
	case s.Decision == "allowed":
		return false
	case s.Client != "":
		return s.clientFolds()
	}
	return s.Tenant == "" && s.Issuer == "" && s.TokenFingerprint == ""
}

// CountNotBelieved reports whether s carries a count that Requests does
// not take as written: a count on a record of a shape the sidecar never
// folds, past MaxRequestsPerRecord, or flagged past its sender's ceiling
// (FlagCountPastSenderCeiling) or outside its sender's window
// (FlagCountOutsideSenderWindow). Intake counts such records
// (portcullis_collector_counts_not_believed_total).
func (s *StoredRecord) CountNotBelieved() bool {
	return s.Count > 1 && s.Requests() != s.Count
}

// clientFolds reports whether s, a record naming a client, has the shape
// of one the sidecar folds: audit.ClientFolds, the emitter's own rule
// (audit TestClientFoldAgreesWithCollector), of its decision, limit and
// status. A name no sidecar writes is no fold of one.
func (s *StoredRecord) clientFolds() bool {
	d, ok := audit.ParseDecision(s.Decision)
	l, known := audit.ParseLimit(s.Limit)
	return ok && known && audit.ClientFolds(s.Tenant, d, l, s.Status)
}

// StatusText is s's HTTP status as reports print it: the number, or
// StatusBeforeHTTP for a record without one that RefusedBeforeHTTP, or
// "-" for one without status nor refusal.
func (s *StoredRecord) StatusText() string {
	switch {
	case s.Status != 0:
		return strconv.FormatInt(s.Status, 10)
	case s.RefusedBeforeHTTP():
		return StatusBeforeHTTP
	}
	return "-"
}

// CountedAt returns s's time, or, when it is dated after the collector
// stored it, the time it was stored (Received, when known): nothing a
// record tells of happened after the record reached the collector, so a
// time ahead of that is its sender's clock or a forgery. A last use or a
// last seen is read from it: at its own time, one forged record dated
// years ahead was an integration's last use in every later pack
// (TestLastUseNeverAfterReceipt), as detection's windows once moved.
func (s *StoredRecord) CountedAt() time.Time {
	if !s.Received.IsZero() && s.Time.After(s.Received) {
		return s.Received
	}
	return s.Time
}

// datedAhead reports whether the collector flagged r's time as too far
// from its receipt, and that time is after the receipt (Received known).
func (s *StoredRecord) datedAhead() bool {
	return len(s.Flags) > 0 && !s.Received.IsZero() && s.Time.After(s.Received) &&
		slices.Contains(s.Flags, FlagTimeOutsideWindow)
}

// AppendJSON appends s as one JSON object in the field order of
// Record.AppendJSON, followed by body and attributes (sorted by key) when
// present.
func (s *StoredRecord) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"time":"`...)
	dst = s.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = appendStringField(dst, `","tenant":`, s.Tenant)
	dst = appendStringField(dst, `,"client":`, s.Client)
	dst = appendStringField(dst, `,"key_id":`, s.KeyID)
	dst = appendStringField(dst, `,"auth_method":`, s.AuthMethod)
	dst = appendStringField(dst, `,"issuer":`, s.Issuer)
	if s.TokenFingerprint != "" {
		dst = appendStringField(dst, `,"token_fingerprint":`, s.TokenFingerprint)
	}
	dst = appendStringField(dst, `,"method":`, s.Method)
	dst = appendStringField(dst, `,"route":`, s.Route)
	dst = appendStringField(dst, `,"path":`, s.Path)
	dst = appendIntField(dst, `,"status":`, s.Status)
	dst = appendStringField(dst, `,"decision":`, s.Decision)
	if s.Limit != "" {
		dst = appendStringField(dst, `,"limit":`, s.Limit)
	}
	dst = appendStringField(dst, `,"request_id":`, s.RequestID)
	if s.RequestIDSource != 0 {
		dst = appendStringField(dst, `,"request_id_source":`, s.RequestIDSource.String())
	}
	if s.ApprovalID != "" {
		dst = appendStringField(dst, `,"approval_id":`, s.ApprovalID)
	}
	if s.CertSerial != "" {
		dst = appendStringField(dst, `,"cert_serial":`, s.CertSerial)
	}
	if s.CertIssuer != "" {
		dst = appendStringField(dst, `,"cert_issuer":`, s.CertIssuer)
	}
	return s.appendJSONTail(dst)
}

func (s *StoredRecord) appendJSONTail(dst []byte) []byte {
	dst = appendStringField(dst, `,"source_ip":`, s.SourceIP)
	dst = appendIntField(dst, `,"bytes_in":`, s.BytesIn)
	dst = appendIntField(dst, `,"bytes_out":`, s.BytesOut)
	dst = appendIntField(dst, `,"duration_us":`, s.DurationUS)
	dst = appendStringField(dst, `,"user_agent":`, s.UserAgent)
	dst = appendIntField(dst, `,"policy_revision":`, s.PolicyRevision)
	if s.Count > 1 {
		dst = appendIntField(dst, `,"count":`, s.Count)
	}
	if s.Cut != "" {
		dst = appendStringField(dst, `,"cut":`, s.Cut)
	}
	if s.Sender != "" {
		dst = appendStringField(dst, `,"sender":`, s.Sender)
	}
	if s.Pod != "" {
		dst = appendStringField(dst, `,"pod":`, s.Pod)
	}
	if len(s.Flags) > 0 {
		dst = append(dst, `,"flags":[`...)
		for i, f := range s.Flags {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, f)
		}
		dst = append(dst, ']')
	}
	if s.Body != "" {
		dst = appendStringField(dst, `,"body":`, s.Body)
	}
	if len(s.Attributes) > 0 {
		dst = append(dst, `,"attributes":{`...)
		for i, k := range slices.Sorted(mapKeys(s.Attributes)) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = appendJSONString(dst, s.Attributes[k])
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Stored converts r, a record as the sidecar captures it, to the form the
// collector stores.
func Stored(r *audit.Record) StoredRecord {
	s := StoredRecord{
		Time: time.Unix(0, r.Time).UTC(), Tenant: r.Tenant, Client: r.Client,
		KeyID: string(r.KeyID()), AuthMethod: r.AuthMethod.String(), Issuer: r.Issuer,
		Method: string(r.Method()), Route: r.Route, Path: string(r.Path()),
		Status: int64(r.Status), Decision: r.Decision.String(), Limit: r.Limit.String(), RequestID: string(r.RequestID()),
		BytesIn: r.BytesIn, BytesOut: r.BytesOut, DurationUS: r.Duration / 1e3,
		UserAgent: string(r.UserAgent()), PolicyRevision: r.PolicyRevision, ApprovalID: string(r.ApprovalID()),
		CertSerial: string(r.CertSerial()),
	}
	if r.CertIssuer != ([32]byte{}) {
		s.CertIssuer = hexString(r.CertIssuer[:])
	}
	if r.Count > 1 {
		s.Count = int64(r.Count)
	}
	if r.ClientCut {
		s.Cut = audit.CutClient
	}
	if r.ClientRequestID {
		s.RequestIDSource = IDFromClient
	}
	if r.SourceIP.IsValid() {
		s.SourceIP = r.SourceIP.String()
	}
	if r.TokenFingerprint != ([16]byte{}) {
		s.TokenFingerprint = hexString(r.TokenFingerprint[:])
	}
	return s
}

// IDSource says who made a record's request id: zero for the sidecar
// that recorded it, IDFromClient for its client.
type IDSource uint8

// IDFromClient is the IDSource of a request id kept from the client's
// X-Request-ID.
const IDFromClient IDSource = 1

// String returns audit.RequestIDFromClient for IDFromClient, else "".
func (s IDSource) String() string {
	if s == IDFromClient {
		return audit.RequestIDFromClient
	}
	return ""
}

// MarshalText writes s as String does.
func (s IDSource) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText takes audit.RequestIDFromClient, and "" for zero.
func (s *IDSource) UnmarshalText(b []byte) error {
	switch string(b) {
	case audit.RequestIDFromClient:
		*s = IDFromClient
	case "":
		*s = 0
	default:
		return fmt.Errorf("unknown request_id_source %q", b)
	}
	return nil
}
