package main

import (
	"io"

	"github.com/portcullis/portcullis/dataplane"
)

// processMetrics returns a writer of the sidecar's go_* and process_*
// families (dataplane.ProcessFamilies: Go memory from runtime/metrics,
// resident memory, CPU and descriptors from /proc/self) for the
// collector's and the injector's /metrics. They served none: a collector
// or an injector nearing its memory limit showed nothing on /metrics
// before it was killed (TestCollectorAndInjectorServeProcessMetrics).
func processMetrics() func(io.Writer) {
	var reg dataplane.Registry
	if err := reg.Register(dataplane.ProcessFamilies()...); err != nil {
		panic(err) // the families are fixed: a test would have failed
	}
	return func(w io.Writer) { w.Write(reg.AppendText(nil)) }
}

// collectorMetrics writes the families the collector command adds to the
// collector's own on /metrics: detection's, the client CRL's (crl may be
// nil: no --client-crl) and the process's.
func collectorMetrics(det *detection, crl *intakeCRL) func(io.Writer) {
	proc := processMetrics()
	return func(w io.Writer) {
		det.writeMetrics(w)
		if crl != nil {
			crl.writeMetrics(w)
		}
		proc(w)
	}
}
