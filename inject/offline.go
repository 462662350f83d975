package inject

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// Inject reads a manifest from r (YAML, one or more documents, or JSON),
// adds the sidecar to every workload in it (Object: Pods, Deployments,
// StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs and the items of
// a List) that does not opt out, and writes every document to w in
// format "yaml" or "json" (one object per document). A document that is
// not a workload, or is not injected, is written as it was (in YAML with
// its comments and key order). It returns the warnings for the user.
func (c Config) Inject(r io.Reader, w io.Writer, format string) ([]string, error) {
	if format != "yaml" && format != "json" {
		return nil, fmt.Errorf("output format %q: want yaml or json", format)
	}
	out := newWriter(w, format)
	dec := yaml.NewDecoder(r)
	var warnings []string
	for n := 1; ; n++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return warnings, out.close()
		}
		if err != nil {
			return warnings, fmt.Errorf("document %d: %w", n, err)
		}
		warns, err := c.document(&doc, out)
		if err != nil {
			return warnings, fmt.Errorf("document %d: %w", n, err)
		}
		warnings = append(warnings, warns...)
	}
}

// document injects and writes one document.
func (c Config) document(doc *yaml.Node, out *writer) ([]string, error) {
	if len(doc.Content) == 0 {
		return nil, nil // an empty document ("---" alone)
	}
	var v any
	if err := doc.Decode(&v); err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, out.write(doc, v)
	}
	results, err := c.Object(obj)
	if err != nil {
		return nil, err
	}
	var warnings []string
	changed := false
	for _, r := range results {
		warnings = append(warnings, r.Warnings...)
		changed = changed || r.Injected
	}
	if !changed {
		return warnings, out.write(doc, v)
	}
	return warnings, out.write(nil, obj)
}

// writer writes documents in one format.
type writer struct {
	format string
	yaml   *yaml.Encoder
	json   *json.Encoder
}

func newWriter(w io.Writer, format string) *writer {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return &writer{format: format, json: enc}
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	return &writer{format: format, yaml: enc}
}

// write writes node when it is given (YAML: the document as it was read),
// else v.
func (w *writer) write(node *yaml.Node, v any) error {
	if w.json != nil {
		return w.json.Encode(v)
	}
	if node != nil {
		return w.yaml.Encode(node)
	}
	return w.yaml.Encode(v)
}

func (w *writer) close() error {
	if w.yaml != nil {
		return w.yaml.Close()
	}
	return nil
}
