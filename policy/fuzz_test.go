package policy

import "testing"

// FuzzLoad checks that Load never panics and that every document it accepts
// compiles, and that Match never panics on an accepted policy. Seeds are in
// testdata/fuzz/FuzzLoad: the example policy and broken variants.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(doc(base...)))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Load("fuzz.yaml", data)
		if err != nil {
			if d != nil {
				t.Fatalf("Load returned a document and an error %v", err)
			}
			return
		}
		s, err := Compile(d, Live{})
		if err != nil {
			t.Fatalf("Load accepted a document Compile rejects: %v\n%s", err, data)
		}
		for _, r := range s.Routes {
			if got := s.Match([]byte(r.Method), []byte(r.Template)); got == nil {
				t.Fatalf("route %s %s does not match its own template", r.Method, r.Template)
			}
		}
	})
}
