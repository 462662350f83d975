package dataplane

import (
	"strings"
	"testing"
)

// The sidecar walks dropNames only for a request scanHeaders marked
// dropped (prepareRequest), so each name of the list, in any case, must
// mark it: a name added to the list alone would go on to the service.
// review58 tried every name of the list, as written, lower and upper case.
func TestEveryDropNameMarksTheRequest(t *testing.T) {
	for _, n := range dropNames {
		for _, v := range []string{n, strings.ToLower(n), strings.ToUpper(n)} {
			var h requestHeaders
			if !scanHeaders([]byte(v+": 1.2.3.4\r\n"), &h) || !h.dropped {
				t.Errorf("%q: scanHeaders marked the request dropped %v; want true, or its line reaches the service", v, h.dropped)
			}
		}
	}
}
