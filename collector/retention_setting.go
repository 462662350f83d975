package collector

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// RetentionSetting is the retention a store recorded in its signed head.
type RetentionSetting struct {
	// Retention is the setting (0 keeps all segments).
	Retention time.Duration
	// Recorded is false for a store whose head predates the record (or
	// that has no head yet); Retention is then 0 and means nothing.
	Recorded bool
	// Signed is when the head that records it was signed.
	Signed time.Time
	// Verified says the head's signature was checked with a public key.
	Verified bool
}

// ReadRetention returns the retention setting recorded in the signed head
// of the store in dir, checking the head's signature with pub (nil reads
// it unverified, and says so). A store without a head records nothing.
func ReadRetention(dir string, pub ed25519.PublicKey) (RetentionSetting, error) {
	data, err := readRegular(filepath.Join(dir, headFile), maxDocBytes)
	if errors.Is(err, os.ErrNotExist) {
		return RetentionSetting{}, nil
	}
	if err != nil {
		return RetentionSetting{}, fmt.Errorf("collector: cannot read the head of store %q: %w", dir, err)
	}
	var h storeHead
	if pub != nil {
		keys, err := LoadKeys(dir, pub)
		if err != nil {
			return RetentionSetting{}, err
		}
		if _, err := keys.r.openHead(data, &h); err != nil {
			return RetentionSetting{}, fmt.Errorf("collector: head of store %q does not verify: %w", dir, err)
		}
	} else if err := unverifiedDoc(data, &h); err != nil {
		return RetentionSetting{}, fmt.Errorf("collector: cannot decode the head of store %q: %w", dir, err)
	}
	out := RetentionSetting{Recorded: h.RetentionSeconds != nil, Signed: h.Time, Verified: pub != nil}
	if out.Recorded {
		out.Retention = time.Duration(*h.RetentionSeconds) * time.Second
	}
	return out, nil
}

// recordRetentionLocked signs a new head at open when the head on disk
// records another retention than the store's (or none), so that a
// restart with a new --retention is recorded before anything is appended.
func (s *Store) recordRetentionLocked() error {
	data, err := readRegular(filepath.Join(s.dir, headFile), maxDocBytes)
	if err != nil {
		return nil // no head yet: the first append signs one
	}
	var h storeHead
	if unverifiedDoc(data, &h) == nil && h.RetentionSeconds != nil && *h.RetentionSeconds == int64(s.cfg.Retention/time.Second) {
		return nil
	}
	_, err = s.signHeadLocked(s.cfg.Now())
	return err
}

// unverifiedDoc decodes a signed document's payload into v without
// checking its signature.
func unverifiedDoc(data []byte, v any) error {
	var d signedDoc
	if err := json.Unmarshal(data, &d); err != nil {
		return err
	}
	return json.Unmarshal(d.Payload, v)
}
