package inject

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// ErrEmptyManifest is returned by Inject for input that holds no
// document: empty, or only blanks and comments.
var ErrEmptyManifest = errors.New("inject: the manifest is empty: no YAML or JSON document")

// Inject reads a manifest from r (YAML, one or more documents, or JSON),
// adds the sidecar to every workload in it (Object: Pods, Deployments,
// StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs and the items of
// a List) that does not opt out, and writes every document to w in
// format "yaml" or "json" (one object per document). A document that is
// not a workload, or is not injected, is written as it was (in YAML with
// its comments and key order). It returns the warnings for the user, each
// naming its document and workload ("document 2: Pod \"x\": ...").
// Input without a document (empty, or only blanks and comments) is
// ErrEmptyManifest.
func (c Config) Inject(r io.Reader, w io.Writer, format string) ([]string, error) {
	if format != "yaml" && format != "json" {
		return nil, fmt.Errorf("output format %q: want yaml or json", format)
	}
	out := newWriter(w, format)
	br := bufio.NewReader(r)
	if isJSON(br) {
		return c.injectJSON(br, out)
	}
	dec := yaml.NewDecoder(br)
	var warnings []string
	for n := 1; ; n++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) && n == 1 {
			// The YAML encoder, closed without a document, failed with
			// "yaml: expected STREAM-START", which named nothing.
			return nil, ErrEmptyManifest
		}
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
		warnings = appendDocWarnings(warnings, n, warns)
	}
}

// appendDocWarnings appends the warnings of document n, named as its
// errors are ("document 2: Pod \"x\": ...").
func appendDocWarnings(warnings []string, n int, warns []string) []string {
	for _, w := range warns {
		warnings = append(warnings, fmt.Sprintf("document %d: %s", n, w))
	}
	return warnings
}

// document injects and writes one document.
func (c Config) document(doc *yaml.Node, out *writer) ([]string, error) {
	if len(doc.Content) == 0 {
		return nil, nil // an empty document ("---" alone)
	}
	v, err := nodeValue(doc)
	if err != nil {
		return nil, err
	}
	return c.value(doc, v, out)
}

// value injects the document v (read from doc, when YAML) and writes it.
func (c Config) value(doc *yaml.Node, v any, out *writer) ([]string, error) {
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

// isJSON reports whether the input starts (after white space) with a
// JSON object or array: a stream of JSON objects, as kubectl writes and
// reads them, is not a YAML stream.
func isJSON(br *bufio.Reader) bool {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return false
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			_, _ = br.ReadByte()
		case '{', '[':
			return true
		default:
			return false
		}
	}
}

// injectJSON injects a stream of JSON values.
func (c Config) injectJSON(r io.Reader, out *writer) ([]string, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var warnings []string
	for n := 1; ; n++ {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return warnings, out.close()
		}
		if err != nil {
			return warnings, fmt.Errorf("document %d: %w", n, err)
		}
		warns, err := c.value(nil, plainNumbers(v), out)
		if err != nil {
			return warnings, fmt.Errorf("document %d: %w", n, err)
		}
		warnings = appendDocWarnings(warnings, n, warns)
	}
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
