package collector

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"time"

	"github.com/portcullis/portcullis/internal/durable"
)

// GenerateKey writes a new Ed25519 key pair for signing segment digests:
// the private key (PKCS #8 PEM, mode 0600) to path and the public key
// (PKIX PEM, mode 0644) to path+".pub". It refuses to overwrite either.
func GenerateKey(path string) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("collector: cannot generate Ed25519 key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("collector: cannot encode private key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return fmt.Errorf("collector: cannot encode public key: %w", err)
	}
	if err := writePEM(path, "PRIVATE KEY", privDER, 0o600); err != nil {
		return err
	}
	return writePEM(path+".pub", "PUBLIC KEY", pubDER, 0o644)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("collector: cannot create key file %q: %w", path, err)
	}
	err = pem.Encode(f, &pem.Block{Type: typ, Bytes: der})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("collector: cannot write key file %q: %w", path, err)
	}
	return nil
}

// LoadPrivateKey reads an Ed25519 private key written by GenerateKey.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	der, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("collector: cannot parse private key %q: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("collector: private key %q is %T, want Ed25519", path, k)
	}
	return priv, nil
}

// LoadPublicKey reads an Ed25519 public key written by GenerateKey.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	der, err := readPEM(path, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("collector: cannot parse public key %q: %w", path, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("collector: public key %q is %T, want Ed25519", path, k)
	}
	return pub, nil
}

// MaxKeyFileBytes is the largest key or token file read: an Ed25519 PEM
// key is under 1 KiB, a token file of 10,000 senders under 1 MiB. A larger
// file is refused, never read whole (a 10 GB file was read into memory).
const MaxKeyFileBytes = 1 << 20

func readPEM(path, typ string) ([]byte, error) {
	data, err := durable.ReadRegularMax(path, MaxKeyFileBytes)
	if err != nil {
		return nil, fmt.Errorf("collector: cannot read key file %q: %w", path, err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != typ {
		return nil, fmt.Errorf("collector: key file %q holds no %s PEM block", path, typ)
	}
	return block.Bytes, nil
}

// segmentDigest is the signed summary of a closed segment. PrevSignature
// chains digests (as CloudTrail digest files do), so removing or replacing
// a whole segment and its digest breaks the next digest.
type segmentDigest struct {
	Segment       uint64    `json:"segment"`
	File          string    `json:"file"`
	Size          int64     `json:"size"`
	SHA256        string    `json:"sha256"`
	FirstSeq      uint64    `json:"first_seq"`
	LastSeq       uint64    `json:"last_seq"`
	Entries       int       `json:"entries"`
	FirstHash     string    `json:"first_hash"`
	LastHash      string    `json:"last_hash"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	PrevSignature string    `json:"prev_signature"`
	// TrustedEntries and Break are set on a segment sealed at recovery over
	// entries the collector could not vouch for (see KindBreak): only the
	// first TrustedEntries lines belong to the chain, and FirstSeq..LastSeq,
	// LastHash describe them; Size and SHA256 still cover the whole file.
	TrustedEntries int    `json:"trusted_entries,omitempty"`
	Break          string `json:"break,omitempty"`
}

// storeHead is the signed pointer to the newest entry, so truncating the
// open (unsigned) segment is detectable.
type storeHead struct {
	Segment uint64    `json:"segment"`
	Seq     uint64    `json:"seq"`
	Hash    string    `json:"hash"`
	Time    time.Time `json:"time"`
	// RetentionSeconds is the store's retention setting when it signed
	// the head (0 keeps all); nil in a head signed before the store
	// recorded it (issue 15: the evidence pack reads it from here).
	RetentionSeconds *int64 `json:"retention_seconds,omitempty"`
	// Sealed is the newest segment sealed when the head was signed (its
	// digest written, durably, before): the start refuses a store whose
	// digests stop before it (checkHeadNamed). 0 in a head signed
	// before the store recorded it, and in a store with no digest yet.
	Sealed uint64 `json:"sealed,omitempty"`
	// Publication is the number of this head's put at the etcd key it
	// was published at (the key's version once it is written: 1 for the
	// put that created the key), so that a head read back there with
	// another count was put back (CheckCount); 0 in head.json, the
	// --publish-head file, and a head signed before collectors numbered
	// them.
	Publication int64 `json:"publication,omitempty"`
	// KeyCreated is that key's create revision; 0 in the put that
	// created it, and wherever Publication is 0.
	KeyCreated int64 `json:"key_created,omitempty"`
	// Counted says the store had published a head numbered with its
	// etcd key's count when this head was signed (Store.counted).
	Counted bool `json:"counted,omitempty"`
}

// signedDoc is the on-disk form of a digest or head: the exact payload
// bytes and an Ed25519 signature over a domain prefix and them.
type signedDoc struct {
	Payload   json.RawMessage `json:"payload"`
	Signature string          `json:"signature"`
}

// Signature domains keep a head from passing for a digest and vice versa.
const (
	domainDigest = "portcullis-audit-digest-v1\n"
	domainHead   = "portcullis-audit-head-v1\n"
)

// signDoc marshals v and signs it.
func signDoc(key ed25519.PrivateKey, domain string, v any) ([]byte, string, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return nil, "", fmt.Errorf("collector: cannot encode signed document: %w", err)
	}
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(key, append([]byte(domain), payload...)))
	doc, err := json.Marshal(signedDoc{Payload: payload, Signature: sig})
	if err != nil {
		return nil, "", fmt.Errorf("collector: cannot encode signed document: %w", err)
	}
	return append(doc, '\n'), sig, nil
}

// openDoc parses a signed document, checks its signature and decodes the
// payload into v. It returns the signature text.
func openDoc(data []byte, pub ed25519.PublicKey, domain string, v any) (string, error) {
	var d signedDoc
	if err := json.Unmarshal(data, &d); err != nil {
		return "", fmt.Errorf("cannot parse signed document: %w", err)
	}
	if err := json.Unmarshal(d.Payload, v); err != nil {
		return d.Signature, fmt.Errorf("cannot parse signed payload: %w", err)
	}
	sig, err := base64.StdEncoding.DecodeString(d.Signature)
	if err != nil || !ed25519.Verify(pub, append([]byte(domain), d.Payload...), sig) {
		return d.Signature, errBadSignature
	}
	return d.Signature, nil
}

var errBadSignature = fmt.Errorf("bad signature")
