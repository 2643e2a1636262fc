package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sentistream/sentistream/internal/testenv"
)

// TestSecureMisconfigured runs the score function against the secure PostgreSQL (TLS with the
// local CA, scram passwords) with one setting wrong at a time: it stays not ready with a reason
// naming the variable to change, answers events 503 (retried, never dead-lettered), and no
// secret reaches a log line or an answer.
func TestSecureMisconfigured(t *testing.T) {
	testenv.Secure(t)
	good, err := url.Parse(testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	if good.Query().Get("sslmode") != "verify-full" {
		t.Fatalf("the secure phase's database URL has sslmode=%q, want verify-full", good.Query().Get("sslmode"))
	}
	const secret = "not-the-password-91c2e7"
	with := func(change func(u *url.URL, q url.Values)) string {
		u := *good
		q := u.Query()
		change(&u, q)
		u.RawQuery = q.Encode()
		return u.String()
	}
	tests := []struct {
		name, url, wantVar string
	}{
		{"password refused", with(func(u *url.URL, _ url.Values) { u.User = url.UserPassword(u.User.Username(), secret) }), "DATABASE_URL"},
		{"CA not given", with(func(_ *url.URL, q url.Values) { q.Del("sslrootcert") }), "sslrootcert"},
		{"database missing", with(func(u *url.URL, _ url.Values) { u.Path = "/no_such_database" }), "DATABASE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &testenv.Buffer{}
			env := map[string]string{"DATABASE_URL": tt.url, "LOG_LEVEL": "info"}
			base := startLogging(t, env, logs)
			body := waitFor(t, base+"/readyz", http.StatusServiceUnavailable)
			if !strings.Contains(body, tt.wantVar) {
				// The first probe may come before the first migration attempt has failed.
				body = waitForBody(t, base+"/readyz", tt.wantVar)
			}
			res, err := http.Post(base+"/", "application/json", strings.NewReader(`{"sentence":"This is great!"}`))
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(answer), tt.wantVar) {
				t.Errorf("POST / = %d %s, want 503 naming %s", res.StatusCode, answer, tt.wantVar)
			}
			for what, text := range map[string]string{"log": logs.String(), "readyz": body, "answer": string(answer)} {
				if strings.Contains(text, secret) {
					t.Errorf("the password is in the %s: %s", what, text)
				}
			}
		})
	}
}

// waitForBody polls url until its body holds want, for at most 10s.
func waitForBody(t *testing.T, url, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var body string
	for time.Now().Before(deadline) {
		if body = waitFor(t, url, http.StatusServiceUnavailable); strings.Contains(body, want) {
			return body
		}
		<-tick.C
	}
	t.Fatalf("GET %s never named %s (last: %s)", url, want, body)
	return ""
}
