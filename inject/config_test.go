package inject_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/portcullis/portcullis/inject"
)

const shippedConfig = "../deploy/kubernetes/injector-config.yaml"

// TestShippedConfigShowsEverySetting: the shipped injector-config.yaml
// holds the built-in defaults and names every field of Config.
func TestShippedConfigShowsEverySetting(t *testing.T) {
	got, err := inject.LoadConfig(shippedConfig)
	if err != nil {
		t.Fatal(err)
	}
	if want := inject.Defaults(); !reflect.DeepEqual(got, want) {
		t.Errorf("shipped config = %+v\nwant the defaults %+v", got, want)
	}
	b, err := os.ReadFile(shippedConfig)
	if err != nil {
		t.Fatal(err)
	}
	var shown map[string]any
	if err := yaml.Unmarshal(b, &shown); err != nil {
		t.Fatal(err)
	}
	checkShown(t, "", reflect.TypeOf(inject.Config{}), shown)
}

// checkShown checks that every yaml field of typ is a key of shown,
// recursively.
func checkShown(t *testing.T, path string, typ reflect.Type, shown map[string]any) {
	t.Helper()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		v, ok := shown[name]
		if !ok {
			t.Errorf("%s: setting %s%s is not shown", shippedConfig, path, name)
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			sub, _ := v.(map[string]any)
			checkShown(t, path+name+".", f.Type, sub)
		}
	}
}

// TestLoadConfigRefuses: unknown fields and bad values are errors naming
// them, on one line.
func TestLoadConfigRefuses(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"imagee: x\n", "imagee"},
		{"imagee: x\nlegacy: maybe\n", "line 2"},
		{"listenPort: 0\n", "listenPort"},
		{"adminPort: 8080\n", "adminPort"},
		{"drain: soon\n", "soon"},
		{"spoolMax: 1.5Gi\n", "spoolMax"},
		{"resources: {memoryLimit: lots}\n", "memoryLimit"},
		{"portName: http-traffic\n", "portName"},
		{"runAsUser: 0\n", "runAsUser"},
		// A second document was dropped unread, its fields never checked.
		{"image: a/b:1\n---\nimage: c/d:2\nbogus: 1\n", "one YAML document"},
	} {
		path := t.TempDir() + "/c.yaml"
		if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		// One line: portcullis inject prints it as is, and yaml's
		// "unmarshal errors:" came on two or more.
		if _, err := inject.LoadConfig(path); err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: err = %q, want one line naming %s", tc.body, err, tc.want)
		}
	}
}
