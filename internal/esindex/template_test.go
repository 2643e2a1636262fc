package esindex

import (
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/sentistream/sentistream/internal/env"
)

const (
	// The module lists of GET /_nodes/_local/plugins?filter_path=nodes.*.modules.name.
	fullModules    = `{"nodes":{"n1":{"modules":[{"name":"analysis-common"},{"name":"rest-root"},{"name":"x-pack-security"}]}}}`
	integTestZip   = `{"nodes":{"n1":{"modules":[{"name":"apm"},{"name":"transport-netty4"},{"name":"x-pack-core"},{"name":"x-pack-security"}]}}}`
	monitorRefused = `{"error":{"type":"security_exception","reason":"action [cluster:monitor/nodes/info] is unauthorized"},"status":403}`
)

func TestEnsureTemplateAnalyzer(t *testing.T) {
	tests := []struct {
		name    string
		analyze *http.Response
		want    string
	}{
		{"full distribution", answer(http.StatusOK, fullModules), EnglishAnalyzer},
		{"integ-test-zip without analysis-common", answer(http.StatusOK, integTestZip), FallbackAnalyzer},
		{"module list refused: every distribution has it", answer(http.StatusForbidden, monitorRefused), EnglishAnalyzer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := &fakeES{other: map[string]*http.Response{"GET /_nodes/_local/plugins": tt.analyze}}
			x := New(es, "sentence_idx")
			if err := x.EnsureTemplate(t.Context()); err != nil {
				t.Fatalf("EnsureTemplate: %v", err)
			}
			if got := x.Analyzer(); got != tt.want {
				t.Errorf("Analyzer() = %q, want %q", got, tt.want)
			}
			tmpl := es.bodies["PUT /_index_template/sentence_idx"]
			if !strings.Contains(tmpl, `"analyzer":"`+tt.want+`"`) {
				t.Errorf("template does not set analyzer %s on sentence.english: %s", tt.want, tmpl)
			}
			if strings.Contains(tmpl, "hunspell") {
				t.Errorf("template needs a hunspell dictionary on the nodes: %s", tmpl)
			}
			// The fallback analyzer is defined only where it is used; the drivers analyzer, built
			// from parts every build has, everywhere.
			if hasFallback := strings.Contains(tmpl, `"`+FallbackAnalyzer+`":{`); hasFallback != (tt.want == FallbackAnalyzer) {
				t.Errorf("template defines %s = %v, want only for the fallback: %s", FallbackAnalyzer, hasFallback, tmpl)
			}
			if !strings.Contains(tmpl, `"`+DriversAnalyzer+`":{`) || !strings.Contains(tmpl, `"analyzer":"`+DriversAnalyzer+`"`) {
				t.Errorf("template does not define and use %s: %s", DriversAnalyzer, tmpl)
			}
		})
	}
}

func TestEnsureTemplateMisconfigured(t *testing.T) {
	tests := []struct {
		name, call string
		res        *http.Response
		wantVar    string
	}{
		{"template refused", "PUT /_index_template/sentence_idx", answer(http.StatusBadRequest,
			`{"error":{"type":"illegal_argument_exception","reason":"index template [sentence_idx] has index patterns [sentence_idx] matching patterns from existing templates [other] that have the same priority [200]"},"status":400}`), "ES_INDEX"},
		{"credentials refused", "GET /_nodes/_local/plugins", answer(http.StatusUnauthorized,
			`{"error":{"type":"security_exception","reason":"unable to authenticate user [elastic]"},"status":401}`), "ELASTICSEARCH_PASSWORD"},
		{"privilege missing", "PUT /_index_template/sentence_idx", answer(http.StatusForbidden,
			`{"error":{"type":"security_exception","reason":"action [indices:admin/index_template/put] is unauthorized"},"status":403}`), "manage_index_templates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := &fakeES{other: map[string]*http.Response{tt.call: tt.res}}
			x := New(es, "sentence_idx")
			err := x.EnsureTemplate(t.Context())
			me, ok := errors.AsType[*env.MisconfigError](err)
			if !ok {
				t.Fatalf("EnsureTemplate = %v, want an env.MisconfigError", err)
			}
			if !strings.Contains(me.Reason, tt.wantVar) {
				t.Errorf("reason %q does not name %s", me.Reason, tt.wantVar)
			}
			if !Transient(err) {
				t.Errorf("Transient(%v) = false: the events must stay retryable (503), never dead-lettered", err)
			}
			if errs := x.Bulk(t.Context(), testDocs(1)); !errors.As(errs[0], &me) {
				t.Errorf("Bulk after a refused template = %v, want the MisconfigError", errs[0])
			}
		})
	}
}

func TestLoadClientConfig(t *testing.T) {
	dir := t.TempDir()
	ca := dir + "/ca.crt"
	writeFile(t, ca, "not a certificate")
	key := dir + "/key"
	writeFile(t, key, "c2VjcmV0\n")
	tests := []struct {
		name    string
		env     map[string]string
		want    ClientConfig
		wantErr string
	}{
		{"defaults", nil, ClientConfig{URL: "http://127.0.0.1:9200"}, ""},
		{"api key from file", map[string]string{"ELASTICSEARCH_URL": "https://es:9200", "ELASTICSEARCH_API_KEY_FILE": key},
			ClientConfig{URL: "https://es:9200", APIKey: "c2VjcmV0"}, ""},
		{"ca file", map[string]string{"ELASTICSEARCH_CA_FILE": ca},
			ClientConfig{URL: "http://127.0.0.1:9200", CAFile: ca, CACert: []byte("not a certificate")}, ""},
		{"SSL_CERT_FILE when no CA file", map[string]string{"SSL_CERT_FILE": ca},
			ClientConfig{URL: "http://127.0.0.1:9200", CAFile: ca, CACert: []byte("not a certificate")}, ""},
		{"missing CA file", map[string]string{"ELASTICSEARCH_CA_FILE": dir + "/nope"}, ClientConfig{}, "ELASTICSEARCH_CA_FILE"},
		{"user and api key", map[string]string{"ELASTICSEARCH_USERNAME": "u", "ELASTICSEARCH_API_KEY": "k"}, ClientConfig{}, "both set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadClientConfig(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadClientConfig = %v, want an error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.URL != tt.want.URL || got.APIKey != tt.want.APIKey || got.CAFile != tt.want.CAFile || string(got.CACert) != string(tt.want.CACert) {
				t.Errorf("LoadClientConfig = %+v, want %+v", got, tt.want)
			}
		})
	}
	// A CA file without a certificate is refused when the client is built, naming the variable.
	if _, err := NewClient(ClientConfig{URL: "https://es:9200", CACert: []byte("x"), CAFile: ca}); err == nil ||
		!strings.Contains(err.Error(), "ELASTICSEARCH_CA_FILE") {
		t.Errorf("NewClient with a bad CA = %v, want an error naming ELASTICSEARCH_CA_FILE", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
