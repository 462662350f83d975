package dataplane

import (
	"fmt"
	"math"
	"strconv"
	"sync"
)

// Family is one metric family of /metrics: its name, its type ("counter",
// "gauge" or "histogram"), a one-sentence help text, and Samples, which
// appends the family's sample lines (each starting with Name, or with
// Name_bucket, _sum and _count for a histogram) to dst. Samples runs at
// every scrape, on the admin listener's goroutine, never on a request.
type Family struct {
	Name    string
	Type    string
	Help    string
	Samples func(dst []byte) []byte
}

// Registry is the one list of metric families the admin listener serves.
// A name is registered once, so two sources can never emit one family
// twice (issue 13, item 9: etcd mode once wrote
// portcullis_policy_compile_failures_total twice). The zero Registry is
// empty and ready to use; it is safe for concurrent use.
type Registry struct {
	mu   sync.Mutex // guards the following fields
	fams []Family
}

// Register adds fams in order. It refuses the whole call when a name is
// already registered (or repeated in fams), or a family lacks a name,
// help, samples or a known type.
func (r *Registry) Register(fams ...Family) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, f := range r.fams {
		seen[f.Name] = true
	}
	for _, f := range fams {
		if err := f.check(); err != nil {
			return err
		}
		if seen[f.Name] {
			return fmt.Errorf("dataplane: metric family %q is registered twice", f.Name)
		}
		seen[f.Name] = true
	}
	r.fams = append(r.fams, fams...)
	return nil
}

func (f *Family) check() error {
	switch {
	case f.Name == "" || f.Help == "" || f.Samples == nil:
		return fmt.Errorf("dataplane: metric family %q needs a name, help and samples", f.Name)
	case f.Type != "counter" && f.Type != "gauge" && f.Type != "histogram":
		return fmt.Errorf("dataplane: metric family %q has type %q, want counter, gauge or histogram", f.Name, f.Type)
	}
	return nil
}

// AppendText appends every family in the Prometheus text exposition
// format (version 0.0.4): HELP, TYPE, then the samples.
func (r *Registry) AppendText(dst []byte) []byte {
	r.mu.Lock()
	fams := r.fams[:len(r.fams):len(r.fams)]
	r.mu.Unlock()
	for _, f := range fams {
		dst = append(dst, "# HELP "...)
		dst = append(dst, f.Name...)
		dst = append(dst, ' ')
		dst = append(dst, f.Help...)
		dst = append(dst, "\n# TYPE "...)
		dst = append(dst, f.Name...)
		dst = append(dst, ' ')
		dst = append(dst, f.Type...)
		dst = append(dst, '\n')
		dst = f.Samples(dst)
	}
	return dst
}

// Counter returns a counter family of one unlabelled sample, v().
func Counter(name, help string, v func() uint64) Family {
	return Family{Name: name, Type: "counter", Help: help, Samples: func(b []byte) []byte {
		return appendSample(b, name, v())
	}}
}

// Gauge returns a gauge family of one unlabelled sample, v().
func Gauge(name, help string, v func() float64) Family {
	return Family{Name: name, Type: "gauge", Help: help, Samples: func(b []byte) []byte {
		return appendFloatSample(b, name, v())
	}}
}

func appendSample(b []byte, series string, v uint64) []byte {
	b = append(b, series...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, v, 10)
	return append(b, '\n')
}

// appendFloatSample writes v as the text format spells floats (+Inf, NaN).
func appendFloatSample(b []byte, series string, v float64) []byte {
	b = append(b, series...)
	b = append(b, ' ')
	switch {
	case math.IsInf(v, 1):
		b = append(b, "+Inf"...)
	case math.IsInf(v, -1):
		b = append(b, "-Inf"...)
	case math.IsNaN(v):
		b = append(b, "NaN"...)
	case v == math.Trunc(v) && math.Abs(v) < 1<<53:
		b = strconv.AppendInt(b, int64(v), 10) // whole numbers in full, not 1e+06
	case math.Abs(v) >= 1e-4 && math.Abs(v) < 1e15:
		b = strconv.AppendFloat(b, v, 'f', -1, 64) // timestamps read as such
	default:
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return append(b, '\n')
}
