package collector

import (
	"strconv"
	"strings"
)

// OCSF API Activity (class 6003, category 6 Application Activity), schema
// 1.3.0: https://schema.ocsf.io/1.3.0/classes/api_activity
const (
	ocsfClassUID    = 6003
	ocsfCategoryUID = 6
	ocsfVersion     = "1.3.0"
)

// ocsfActivity maps an HTTP method to an API Activity activity_id:
// 1 Create, 2 Read, 3 Update, 4 Delete, 99 Other.
func ocsfActivity(method string) (int, string) {
	switch method {
	case "POST", "PUT":
		return 1, "Create"
	case "GET", "HEAD", "OPTIONS":
		return 2, "Read"
	case "PATCH":
		return 3, "Update"
	case "DELETE":
		return 4, "Delete"
	}
	return 99, "Other"
}

// AppendOCSF appends r as one OCSF API Activity event (JSON, no newline).
// Portcullis fields without an OCSF home (decision, limit, cut, key id, auth method,
// policy revision, token fingerprint, a refused certificate's serial and
// issuer) go under "unmapped". A record without an HTTP status has no
// status_code, api.response or http_response; a client certificate
// refused at the TLS handshake is a Failure without http_request either.
func AppendOCSF(dst []byte, r *StoredRecord) []byte {
	act, actName := ocsfActivity(r.Method)
	statusID, status := 1, "Success"
	switch r.Decision {
	case "allowed":
	case "": // a foreign OTLP record: no decision recorded
		statusID, status = 0, "Unknown"
	default:
		statusID, status = 2, "Failure"
	}
	severity := 1 // Informational
	if statusID == 2 {
		severity = 3 // Medium: a denied request
	}
	dst = appendIntField(append(dst, '{'), `"class_uid":`, ocsfClassUID)
	dst = appendStringField(dst, `,"class_name":`, "API Activity")
	dst = appendIntField(dst, `,"category_uid":`, ocsfCategoryUID)
	dst = appendStringField(dst, `,"category_name":`, "Application Activity")
	dst = appendIntField(dst, `,"activity_id":`, int64(act))
	dst = appendStringField(dst, `,"activity_name":`, actName)
	dst = appendIntField(dst, `,"type_uid":`, int64(ocsfClassUID*100+act))
	dst = appendIntField(dst, `,"time":`, r.Time.UnixMilli())
	dst = appendIntField(dst, `,"severity_id":`, int64(severity))
	dst = appendIntField(dst, `,"status_id":`, int64(statusID))
	dst = appendStringField(dst, `,"status":`, status)
	if r.Status != 0 {
		dst = appendStringField(dst, `,"status_code":`, strconv.FormatInt(r.Status, 10))
	}
	dst = appendStringField(dst, `,"status_detail":`, r.Decision)
	dst = appendIntField(dst, `,"duration":`, r.DurationUS/1e3)
	dst = appendOCSFMetadata(dst, r)
	dst = appendOCSFAPI(dst, r)
	dst = appendOCSFActor(dst, r)
	dst = appendOCSFHTTP(dst, r)
	dst = appendOCSFUnmapped(dst, r)
	return append(dst, '}')
}

func appendOCSFMetadata(dst []byte, r *StoredRecord) []byte {
	dst = appendStringField(dst, `,"metadata":{"version":`, ocsfVersion)
	dst = appendStringField(dst, `,"product":{"name":`, "Portcullis")
	dst = appendStringField(dst, `,"vendor_name":`, "Portcullis")
	dst = appendStringField(dst, `},"uid":`, r.RequestID)
	dst = appendStringField(dst, `,"tenant_uid":`, r.Tenant)
	return append(dst, '}')
}

func appendOCSFAPI(dst []byte, r *StoredRecord) []byte {
	dst = appendStringField(dst, `,"api":{"operation":`, r.Method+" "+r.Route)
	dst = appendStringField(dst, `,"request":{"uid":`, r.RequestID)
	if r.Status == 0 {
		return append(dst, "}}"...) // no response: refused before HTTP
	}
	dst = appendIntField(dst, `},"response":{"code":`, r.Status)
	return append(dst, "}}"...)
}

func appendOCSFActor(dst []byte, r *StoredRecord) []byte {
	dst = appendStringField(dst, `,"actor":{"user":{"uid":`, r.Client)
	dst = appendStringField(dst, `,"type":`, "Service")
	dst = appendStringField(dst, `,"account":{"uid":`, r.Tenant)
	dst = appendStringField(dst, `}},"app_name":`, r.Client)
	dst = append(dst, '}')
	dst = appendStringField(dst, `,"src_endpoint":{"ip":`, r.SourceIP)
	return append(dst, '}')
}

// appendOCSFHTTP appends http_request and http_response; a refusal at
// the TLS handshake (RefusedBeforeHTTP) has neither: no request was read
// and no response sent, and a code 0 would read as one sent. Any other
// record without an HTTP status (a foreign OTLP record, which says no
// more) keeps its http_request: leaving it out on the status alone lost
// the method, path and user agent of such records
// (TestOCSFForeignRecordWithoutStatusKeepsRequest).
func appendOCSFHTTP(dst []byte, r *StoredRecord) []byte {
	if r.RefusedBeforeHTTP() {
		return dst
	}
	dst = appendStringField(dst, `,"http_request":{"http_method":`, r.Method)
	dst = appendStringField(dst, `,"url":{"path":`, r.Path)
	dst = appendStringField(dst, `},"user_agent":`, r.UserAgent)
	dst = appendIntField(dst, `,"length":`, r.BytesIn)
	if r.Status == 0 {
		return append(dst, '}')
	}
	dst = appendIntField(dst, `},"http_response":{"code":`, r.Status)
	dst = appendIntField(dst, `,"length":`, r.BytesOut)
	return append(dst, '}')
}

func appendOCSFUnmapped(dst []byte, r *StoredRecord) []byte {
	dst = appendStringField(dst, `,"unmapped":{"decision":`, r.Decision)
	if r.Limit != "" {
		dst = appendStringField(dst, `,"limit":`, r.Limit)
	}
	if r.Cut != "" {
		dst = appendStringField(dst, `,"cut":`, r.Cut)
	}
	if r.RequestIDSource != 0 {
		dst = appendStringField(dst, `,"request_id_source":`, r.RequestIDSource.String())
	}
	dst = appendStringField(dst, `,"key_id":`, r.KeyID)
	dst = appendStringField(dst, `,"auth_method":`, r.AuthMethod)
	dst = appendStringField(dst, `,"issuer":`, r.Issuer)
	dst = appendStringField(dst, `,"route":`, r.Route)
	if r.TokenFingerprint != "" {
		dst = appendStringField(dst, `,"token_fingerprint":`, r.TokenFingerprint)
	}
	dst = appendIntField(dst, `,"policy_revision":`, r.PolicyRevision)
	if r.CertSerial != "" {
		dst = appendStringField(dst, `,"cert_serial":`, r.CertSerial)
		dst = appendStringField(dst, `,"cert_issuer":`, r.CertIssuer)
	}
	if r.Sender != "" {
		dst = appendStringField(dst, `,"sender":`, r.Sender)
	}
	if len(r.Flags) > 0 {
		dst = appendStringField(dst, `,"flags":`, strings.Join(r.Flags, ","))
	}
	return append(dst, '}')
}
