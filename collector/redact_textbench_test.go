package collector

import "testing"

// BenchmarkRedactText clears the texts of a foreign access log's record
// (BenchmarkRedactForeign's, and a few of harmlessTexts): redactText's
// cost on the texts it finds nothing in, the common case, without the
// decoding around it.
func BenchmarkRedactText(b *testing.B) {
	texts := []string{
		"GET /v1/orders/42?page=2 200 in 12ms user=bob region: eu-west-1 retries=0", "/v1/orders/42",
		"Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0", "3f2a9c1e-7b44-4c1d-9a0e-42",
		"cache: miss, upstream=orders-db:5432", "password reset requested for bob", "token is valid for 1h",
		"GET /v1/orders?page=2&sort=asc", "session expired after 30m",
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range texts {
			redactText(s)
		}
	}
}
