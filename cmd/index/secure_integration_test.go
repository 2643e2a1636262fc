package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentistream/sentistream/internal/esindex/esindextest"
	"github.com/sentistream/sentistream/internal/testenv"
)

// TestSecureMisconfigured runs the index function against the secure Elasticsearch (HTTPS with
// the local CA, users) with one setting wrong at a time. Each must leave the function not ready,
// with a reason naming the variable to change, and answer events 503 (retried by KafkaSource,
// never dead-lettered), without a secret in any answer or log line.
func TestSecureMisconfigured(t *testing.T) {
	testenv.Secure(t)
	good := testenv.ElasticsearchEnv(t)
	if !strings.HasPrefix(good("ELASTICSEARCH_URL"), "https://") {
		t.Fatalf("the secure phase's Elasticsearch is %s, want https", good("ELASTICSEARCH_URL"))
	}
	const secret = "not-the-password-5f3a9c"
	dir := t.TempDir()
	wrongPassword := filepath.Join(dir, "password")
	writeFile(t, wrongPassword, secret+"\n")
	otherCA := filepath.Join(dir, "other-ca.crt")
	writeFile(t, otherCA, selfSignedCA(t))

	tests := []struct {
		name    string
		env     map[string]string
		setup   func(t *testing.T, index string)
		wantVar string
	}{
		{name: "CA not trusted", env: map[string]string{"ELASTICSEARCH_CA_FILE": otherCA}, wantVar: "ELASTICSEARCH_CA_FILE"},
		{name: "no CA given", env: map[string]string{"ELASTICSEARCH_CA_FILE": ""}, wantVar: "ELASTICSEARCH_CA_FILE"},
		{name: "password refused", env: map[string]string{"ELASTICSEARCH_PASSWORD_FILE": wrongPassword}, wantVar: "ELASTICSEARCH_PASSWORD"},
		{name: "template refused", setup: conflictingTemplate, wantVar: "ES_INDEX"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			index := esindextest.Name(t)
			env := map[string]string{"ES_INDEX": index, "PORT": testenv.FreePort(t), "LOG_LEVEL": "info", "SSL_CERT_FILE": ""}
			for _, name := range []string{"ELASTICSEARCH_URL", "ELASTICSEARCH_CA_FILE", "ELASTICSEARCH_USERNAME",
				"ELASTICSEARCH_PASSWORD", "ELASTICSEARCH_PASSWORD_FILE", "ELASTICSEARCH_API_KEY", "ELASTICSEARCH_API_KEY_FILE"} {
				env[name] = good(name)
			}
			for k, v := range tt.env {
				env[k] = v
			}
			if tt.setup != nil {
				tt.setup(t, index)
			}
			logs := &testenv.Buffer{}
			base := startIndex(t, env, logs)

			ready := get(t, base+"/readyz")
			if ready.code != http.StatusServiceUnavailable || !strings.Contains(ready.body, tt.wantVar) {
				t.Errorf("GET /readyz = %d %s, want 503 naming %s", ready.code, ready.body, tt.wantVar)
			}
			ev := post(t, base, `{"sentence":"This is great!","created_at":"2025-04-14T08:00:00Z"}`)
			if ev.code != http.StatusServiceUnavailable || !strings.Contains(ev.body, tt.wantVar) {
				t.Errorf("POST / = %d %s, want 503 (retried, not dead-lettered) naming %s", ev.code, ev.body, tt.wantVar)
			}
			if !strings.Contains(logs.String(), `"msg":"not ready: dependency misconfigured"`) {
				t.Errorf("no misconfiguration logged:\n%s", logs.String())
			}
			for what, text := range map[string]string{"log": logs.String(), "readyz": ready.body, "answer": ev.body} {
				if strings.Contains(text, secret) {
					t.Errorf("the password is in the %s: %s", what, text)
				}
			}
		})
	}
}

// conflictingTemplate installs another template for the same pattern at the same priority, as
// a second deployment or a hand-made template would: Elasticsearch then refuses ours.
func conflictingTemplate(t *testing.T, index string) {
	es := esindextest.Client(t)
	body := map[string]any{"index_patterns": []string{index}, "priority": 200}
	if code := esindextest.Do(t, es, http.MethodPut, "/_index_template/"+index+"-other", body, nil); code != http.StatusOK {
		t.Fatalf("PUT conflicting template: status %d", code)
	}
	t.Cleanup(func() { esindextest.Remove(t, es, index+"-other") })
}

// startIndex runs the index function with env until the test ends and returns its base URL once
// /healthz answers.
func startIndex(t *testing.T, env map[string]string, logs io.Writer) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run after shutdown = %v, want nil", err)
		}
	})
	base := "http://127.0.0.1:" + env["PORT"]
	deadline := time.Now().Add(10 * time.Second)
	for get(t, base+"/healthz").code != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("%s/healthz did not answer within 10s", base)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return base
}

type answer struct {
	code int
	body string
}

func get(t *testing.T, url string) answer {
	res, err := http.Get(url)
	if err != nil {
		return answer{}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, string(b)}
}

func post(t *testing.T, base, body string) answer {
	res, err := http.Post(base+"/", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, string(b)}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// selfSignedCA returns the PEM of a CA that signed nothing Elasticsearch has.
func selfSignedCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "some other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
