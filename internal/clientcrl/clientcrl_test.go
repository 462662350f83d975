package clientcrl

import (
	"bytes"
	"encoding/asn1"
	"testing"
)

// A DER CRL file is split as is: a DER CRL may end in a byte that is a
// space (its signature's last), which trimming the file cut off, so such
// a CRL did not load one time in about forty.
func TestCRLDERsKeepTrailingSpaceBytes(t *testing.T) {
	der, err := asn1.Marshal([]byte("ends in a space "))
	if err != nil {
		t.Fatal(err)
	}
	two := append(append([]byte(nil), der...), der...)
	got, err := crlDERs(two)
	if err != nil || len(got) != 2 || !bytes.Equal(got[1], der) {
		t.Errorf("crlDERs = %q, %v; want the two values whole", got, err)
	}
}
