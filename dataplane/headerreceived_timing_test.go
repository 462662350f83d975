package dataplane

import "testing"

// BenchmarkHeaderReceived is the check fasthttp runs on each head before
// its body (headerReceived) on a connection Serve accepted: a GET without
// a body, as BenchmarkHandler sends, and a POST with a small declared
// body, which the check before the body skips. Neither BenchmarkHandler
// nor BenchmarkDecide runs it.
func BenchmarkHeaderReceived(b *testing.B) {
	for _, c := range []struct {
		name string
		req  []byte
	}{
		{"GET", request("GET", "/v1/users/42", hrisKey)},
		{"POST small body", request("POST", "/v1/records", hrisKey, "Content-Length: 2")},
	} {
		b.Run(c.name, func(b *testing.B) {
			m := newInmem(b, false)
			m.src.Reset(c.req)
			m.br.Reset(m.src)
			h := &m.ctx.Request.Header
			if err := h.Read(m.br); err != nil {
				b.Fatal(err)
			}
			cn := m.ctx.Conn().(*conn)
			b.ReportAllocs()
			for b.Loop() {
				m.srv.headerReceived(h)
				cn.headIn = false
			}
		})
	}
}
