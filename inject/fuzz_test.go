package inject_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/portcullis/portcullis/inject"
)

// addDocsSeeds adds the Kubernetes docs' examples to the corpus, besides
// testdata/fuzz.
func addDocsSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/k8s-docs/*.yaml")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzInject: any input either fails cleanly or comes out injected in a
// form that, injected again, does not change.
func FuzzInject(f *testing.F) {
	addDocsSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		c := inject.Defaults()
		var once bytes.Buffer
		if _, err := c.Inject(bytes.NewReader(in), &once, "yaml"); err != nil {
			return
		}
		var twice bytes.Buffer
		if _, err := c.Inject(bytes.NewReader(once.Bytes()), &twice, "yaml"); err != nil {
			t.Fatalf("injected output does not inject again: %v\n%s", err, once.Bytes())
		}
		if !bytes.Equal(once.Bytes(), twice.Bytes()) {
			t.Fatalf("second injection changed the output:\n%s\n---- became\n%s", once.Bytes(), twice.Bytes())
		}
	})
}

// FuzzWebhookPod: any pod the API server could send is answered with an
// AdmissionReview; a patch applies (RFC 6902, evanphx/json-patch) and the
// patched pod draws no second patch.
func FuzzWebhookPod(f *testing.F) {
	files, _ := filepath.Glob("testdata/k8s-docs/*.yaml")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(podFromTemplate(f, readJSONBytes(f, b)))
	}
	h := (&inject.Webhook{Config: inject.Defaults()}).Handler()
	f.Fuzz(func(t *testing.T, pod []byte) {
		patch, ok := reviewRaw(t, h, pod)
		if !ok || patch == nil {
			return
		}
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			t.Fatalf("patch does not decode: %v\n%s", err, patch)
		}
		out, err := p.Apply(pod)
		if err != nil {
			t.Fatalf("patch does not apply: %v\npod %s\npatch %s", err, pod, patch)
		}
		if again, _ := reviewRaw(t, h, out); again != nil {
			t.Fatalf("the patched pod draws another patch: %s", again)
		}
	})
}

// reviewRaw sends pod as the object of a Pod CREATE review to the handler
// (in process: the fuzzer runs it thousands of times) and returns the
// patch; ok is false when the object is not one the API server could send.
func reviewRaw(t *testing.T, h http.Handler, pod []byte) ([]byte, bool) {
	if !json.Valid(pod) || len(bytes.TrimSpace(pod)) == 0 || bytes.TrimSpace(pod)[0] != '{' {
		return nil, false
	}
	body, _ := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{"uid": "u", "kind": map[string]string{"version": "v1", "kind": "Pod"}, "operation": "CREATE", "object": json.RawMessage(pod)}})
	req := httptest.NewRequest(http.MethodPost, inject.PathNamespace, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
	}
	var got struct {
		Response struct {
			Allowed bool   `json:"allowed"`
			Patch   []byte `json:"patch"`
		} `json:"response"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return got.Response.Patch, true
}
