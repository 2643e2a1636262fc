package esindex

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"

	"github.com/sentistream/sentistream/internal/env"
	"github.com/sentistream/sentistream/internal/event"
	"github.com/sentistream/sentistream/internal/sentiment"
)

// DefaultName is the index (or alias) name the seed uses.
const DefaultName = "sentence_idx"

// Transport performs an HTTP request against Elasticsearch; [NewClient]'s *elastictransport.Client
// is one, and so is go-elasticsearch's *elasticsearch.Client. The request's URL holds only the path and query.
type Transport interface {
	Perform(*http.Request) (*http.Response, error)
}

// ClientConfig says how to reach Elasticsearch.
type ClientConfig struct {
	// URL is the base URL of one node or of a load balancer, e.g. http://127.0.0.1:9200.
	URL string
	// Username and Password are for HTTP basic authentication; empty means none.
	Username, Password string
	// APIKey is an encoded API key (the "encoded" field Elasticsearch returns, base64 of id:key),
	// sent as "Authorization: ApiKey ..."; empty means none. Set it or Username, not both.
	APIKey string
	// CACert holds PEM certificates trusted for an https URL in addition to the system's roots
	// (ECK and most self-managed clusters sign with a private CA); nil means the system's only.
	CACert []byte
	// CAFile names the file CACert came from, for messages only.
	CAFile string
	// Transport is the HTTP transport; nil means a clone of http.DefaultTransport with enough
	// idle connections for concurrent bulks, trusting CACert.
	Transport http.RoundTripper
}

// NewClient returns an Elasticsearch client for cfg. It does not retry: a failed request is
// reported to the caller at once, which answers 503 and lets the delivery layer retry with its
// backoff. It makes no request. It is elastic-transport-go's client, without go-elasticsearch's
// typed API, which takes minutes and gigabytes to compile and which nothing here uses.
func NewClient(cfg ClientConfig) (*elastictransport.Client, error) {
	if cfg.APIKey != "" && cfg.Username != "" {
		return nil, errors.New("elasticsearch: set ELASTICSEARCH_API_KEY or ELASTICSEARCH_USERNAME, not both")
	}
	rt := cfg.Transport
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 32
		if len(cfg.CACert) > 0 {
			roots, err := x509.SystemCertPool()
			if err != nil {
				roots = x509.NewCertPool()
			}
			if !roots.AppendCertsFromPEM(cfg.CACert) {
				return nil, fmt.Errorf("ELASTICSEARCH_CA_FILE: %s holds no PEM certificate", cfg.CAFile)
			}
			t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		}
		rt = t
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("ELASTICSEARCH_URL: want http(s)://host:port, got %q", cfg.URL)
	}
	return elastictransport.New(elastictransport.Config{
		URLs:         []*url.URL{u},
		Username:     cfg.Username,
		Password:     cfg.Password,
		APIKey:       cfg.APIKey,
		DisableRetry: true,
		Transport:    rt,
	})
}

// Index writes documents to and reads them from one index or alias. It is safe for concurrent use.
type Index struct {
	es   Transport
	name string
	tmpl *templateState
}

// templateState records whether the template is installed; it is shared by an Index and the
// indexes [Index.Concrete] derives from it.
type templateState struct {
	base     string // the configured name the template is named after
	mu       sync.Mutex
	done     bool
	analyzer string // of sentence.english, once done
}

// New returns an Index writing to name (a concrete index or an alias; "" means [DefaultName])
// through es. It makes no request: the template is installed by the first write or by
// [Index.EnsureTemplate].
func New(es Transport, name string) *Index {
	if name == "" {
		name = DefaultName
	}
	return &Index{es: es, name: name, tmpl: &templateState{base: name}}
}

// Name returns the index or alias name x writes to.
func (x *Index) Name() string { return x.name }

// Concrete returns an Index that writes to the concrete index name, which must match x's template
// (x.Name()+"-…", as [Index.CreateFresh] names them), and shares x's template.
func (x *Index) Concrete(name string) *Index {
	return &Index{es: x.es, name: name, tmpl: x.tmpl}
}

// Doc is one scored sentence, as indexed. Its fields are those of the PostgreSQL row of the same
// event; the package doc lists the JSON names.
type Doc struct {
	Key        string
	Sentence   string
	CreatedAt  time.Time
	Scores     sentiment.Scores
	Label      string
	ScoredAt   time.Time
	Provenance event.Provenance
}

// NewDoc returns the document for rec scored as s at scoredAt. Times are cut to microseconds in
// UTC, as PostgreSQL stores them, so that the document and the row agree.
func NewDoc(rec event.Record, s sentiment.Scores, scoredAt time.Time) Doc {
	return Doc{
		Key:        rec.Key,
		Sentence:   rec.Sentence,
		CreatedAt:  Micro(rec.CreatedAt),
		Scores:     s,
		Label:      sentiment.Label(s.Compound),
		ScoredAt:   Micro(scoredAt),
		Provenance: rec.Provenance,
	}
}

// Micro returns t in UTC, without a monotonic reading, truncated to microseconds as pgx writes a
// timestamptz.
func Micro(t time.Time) time.Time { return t.Round(0).UTC().Truncate(time.Microsecond) }

// source is a Doc's JSON form.
type source struct {
	Key         string  `json:"key"`
	Sentence    string  `json:"sentence"`
	CreatedAt   string  `json:"created_at"`
	Sentiment   float64 `json:"sentiment"`
	Pos         float64 `json:"pos"`
	Neu         float64 `json:"neu"`
	Neg         float64 `json:"neg"`
	Label       string  `json:"label"`
	ScoredAt    string  `json:"scored_at,omitempty"`
	Topic       string  `json:"topic,omitempty"`
	Partition   *int32  `json:"kafka_partition,omitempty"`
	Offset      *int64  `json:"kafka_offset,omitempty"`
	EventID     string  `json:"event_id,omitempty"`
	EventSource string  `json:"event_source,omitempty"`
}

// timeFormat is RFC 3339 with up to nanoseconds; Doc times carry at most microseconds.
const timeFormat = time.RFC3339Nano

// MarshalJSON returns d's _source.
func (d Doc) MarshalJSON() ([]byte, error) {
	s := source{
		Key:         d.Key,
		Sentence:    d.Sentence,
		CreatedAt:   d.CreatedAt.UTC().Format(timeFormat),
		Sentiment:   d.Scores.Compound,
		Pos:         d.Scores.Pos,
		Neu:         d.Scores.Neu,
		Neg:         d.Scores.Neg,
		Label:       d.Label,
		Topic:       d.Provenance.Topic,
		EventID:     d.Provenance.EventID,
		EventSource: d.Provenance.EventSource,
	}
	if !d.ScoredAt.IsZero() {
		s.ScoredAt = d.ScoredAt.UTC().Format(timeFormat)
	}
	if d.Provenance.HasOffset {
		p, o := d.Provenance.Partition, d.Provenance.Offset
		s.Partition, s.Offset = &p, &o
	}
	return json.Marshal(s)
}

// UnmarshalJSON reads a _source written by MarshalJSON. Unreadable times become the zero time.
func (d *Doc) UnmarshalJSON(b []byte) error {
	var s source
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*d = Doc{
		Key:      s.Key,
		Sentence: s.Sentence,
		Scores:   sentiment.Scores{Compound: s.Sentiment, Pos: s.Pos, Neu: s.Neu, Neg: s.Neg},
		Label:    s.Label,
		Provenance: event.Provenance{
			EventID: s.EventID, EventSource: s.EventSource, Topic: s.Topic,
		},
	}
	d.CreatedAt, d.ScoredAt = parseTime(s.CreatedAt), parseTime(s.ScoredAt)
	if s.Partition != nil && s.Offset != nil {
		d.Provenance.Partition, d.Provenance.Offset, d.Provenance.HasOffset = *s.Partition, *s.Offset, true
	}
	return nil
}

// parseTime reads a time written by MarshalJSON, or one without a zone (as UTC), as documents
// indexed by other writers (the seed's Logstash) may hold. It returns the zero time for anything
// else, so that reading such a document shows it as differing instead of failing the scan.
func parseTime(s string) time.Time {
	for _, layout := range []string{timeFormat, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// do sends a request with a JSON body (nil for none) and returns the response, whose body the
// caller closes. A transport failure is a transient *Error.
func (x *Index) do(ctx context.Context, method, path string, query url.Values, body []byte) (*http.Response, error) {
	u := &url.URL{Path: path, RawQuery: query.Encode()}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		ct := "application/json"
		if strings.HasSuffix(path, "/_bulk") {
			ct = "application/x-ndjson"
		}
		req.Header.Set("Content-Type", ct)
	}
	res, err := x.es.Perform(req)
	if err != nil {
		return nil, &Error{transient: true, Err: misconfigured(err)}
	}
	return res, nil
}

// call sends a request and decodes a 2xx JSON answer into out (nil to discard it). A non-2xx
// answer is an *Error with ES's status and error type; missingOK turns a 404 into (false, nil).
func (x *Index) call(ctx context.Context, method, path string, query url.Values, body []byte, out any, missingOK bool) (found bool, _ error) {
	res, err := x.do(ctx, method, path, query, body)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound && missingOK {
		_, _ = io.Copy(io.Discard, res.Body)
		return false, nil
	}
	if res.StatusCode >= 300 {
		return false, responseError(res)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		return true, nil
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return true, &Error{Status: res.StatusCode, transient: true, Err: fmt.Errorf("decode %s %s answer: %w", method, path, err)}
	}
	return true, nil
}

// responseError reads a non-2xx answer's error type and reason.
func responseError(res *http.Response) *Error {
	var body struct {
		Error json.RawMessage `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	e := &Error{Status: res.StatusCode}
	if json.Unmarshal(b, &body) == nil && len(body.Error) > 0 {
		var ee esError
		if json.Unmarshal(body.Error, &ee) == nil {
			e.Type, e.Reason = ee.Type, shortReason(ee.Reason)
		}
	}
	// A whole request that fails is never the fault of one event.
	e.transient = true
	switch res.StatusCode {
	case http.StatusUnauthorized:
		e.Err = &env.MisconfigError{Reason: "elasticsearch refused the credentials (401): check ELASTICSEARCH_USERNAME and " +
			"ELASTICSEARCH_PASSWORD(_FILE), or ELASTICSEARCH_API_KEY(_FILE)", Err: errors.New(e.Type)}
	case http.StatusForbidden:
		e.Err = &env.MisconfigError{Reason: "elasticsearch denied the request (403 " + e.Type + "): the user or API key in " +
			"ELASTICSEARCH_USERNAME or ELASTICSEARCH_API_KEY needs the manage_index_templates cluster privilege and " +
			"write, create_index and manage privileges on the index", Err: errors.New(e.Reason)}
	}
	return e
}

// misconfigured wraps a transport failure that no retry can get past (a certificate not
// trusted or not valid for the host, TLS spoken to a plain HTTP port) in an
// [env.MisconfigError] naming the variable to change; other errors are returned as they are.
func misconfigured(err error) error {
	var unknownCA x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	switch {
	case errors.As(err, &host):
		return &env.MisconfigError{Reason: "elasticsearch's certificate is not valid for the host in ELASTICSEARCH_URL (" +
			host.Error() + "): use a host name the certificate names", Err: err}
	case errors.As(err, &unknownCA), errors.As(err, &invalid), errors.As(err, &verify):
		return &env.MisconfigError{Reason: "elasticsearch's certificate is not trusted (" + shortTLS(err) + "): set " +
			"ELASTICSEARCH_CA_FILE to the PEM file of the CA that signed it", Err: err}
	case errors.As(err, &record):
		return &env.MisconfigError{Reason: "ELASTICSEARCH_URL is https but the server answers plain http: use an http:// URL", Err: err}
	}
	return err
}

// shortTLS returns the x509 part of a TLS verification error's text.
func shortTLS(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "x509: "); i >= 0 {
		return msg[i:]
	}
	return msg
}

// Ping reports whether Elasticsearch answers (GET /_cluster/health, which every build allows;
// the integ-test-zip build refuses GET /). It fits serve.ReadyCheck.
func (x *Index) Ping(ctx context.Context) error {
	_, err := x.call(ctx, http.MethodGet, "/_cluster/health", nil, nil, nil, false)
	return err
}

// esError is the error object of an ES answer or bulk item.
type esError struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

// LoadClientConfig reads the client settings every binary shares from the environment:
//
//	ELASTICSEARCH_URL       http://127.0.0.1:9200 (the local stack); http or https
//	ELASTICSEARCH_CA_FILE   PEM file of the CA to trust besides the system's; SSL_CERT_FILE when unset
//	ELASTICSEARCH_USERNAME  with ELASTICSEARCH_PASSWORD, for basic authentication
//	ELASTICSEARCH_API_KEY   an encoded API key, instead of a username
//
// The username, password and API key are each also readable from the file named by their _FILE
// variable. A CA file that cannot be read, or both a username and an API key, is an error.
func LoadClientConfig(getenv env.Getenv) (ClientConfig, error) {
	c := ClientConfig{URL: env.String(getenv, "ELASTICSEARCH_URL", "http://127.0.0.1:9200")}
	var errs [4]error
	c.Username, errs[0] = env.Secret(getenv, "ELASTICSEARCH_USERNAME", "")
	c.Password, errs[1] = env.Secret(getenv, "ELASTICSEARCH_PASSWORD", "")
	c.APIKey, errs[2] = env.Secret(getenv, "ELASTICSEARCH_API_KEY", "")
	caVar := "ELASTICSEARCH_CA_FILE"
	if c.CAFile = getenv(caVar); c.CAFile == "" {
		caVar, c.CAFile = "SSL_CERT_FILE", getenv("SSL_CERT_FILE")
	}
	if c.CAFile != "" {
		var err error
		if c.CACert, err = os.ReadFile(c.CAFile); err != nil {
			errs[3] = fmt.Errorf("%s: %w", caVar, err)
		}
	}
	if c.APIKey != "" && c.Username != "" {
		errs[3] = errors.Join(errs[3], errors.New("ELASTICSEARCH_API_KEY and ELASTICSEARCH_USERNAME are both set: want one"))
	}
	return c, errors.Join(errs[:]...)
}
