package policy

import "testing"

func BenchmarkMatch(b *testing.B) {
	s := example(b, Live{})
	method, path := []byte("GET"), []byte("/v1/users/42")
	b.ReportAllocs()
	for b.Loop() {
		if s.Match(method, path) == nil {
			b.Fatal("no route")
		}
	}
}

func BenchmarkMatchBacktrack(b *testing.B) {
	s := routeSnapshot(b, "GET", "/a/{x}/c", "GET", "/a/b/d")
	method, path := []byte("GET"), []byte("/a/b/c")
	b.ReportAllocs()
	for b.Loop() {
		if s.Match(method, path) == nil {
			b.Fatal("no route")
		}
	}
}

func BenchmarkKey(b *testing.B) {
	s := example(b, Live{})
	id := []byte("acmehris1")
	b.ReportAllocs()
	for b.Loop() {
		if s.Key(id) == nil {
			b.Fatal("no key")
		}
	}
}

func BenchmarkSplitKey(b *testing.B) {
	key := []byte(demoKey)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := SplitKey(key); !ok {
			b.Fatal("rejected")
		}
	}
}
