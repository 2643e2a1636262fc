package kafkasource

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"

	"sigs.k8s.io/yaml"
)

// Source is a KafkaSource manifest (sources.knative.dev/v1), the fields the runner reads.
type Source struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   Metadata   `json:"metadata"`
	Spec       SourceSpec `json:"spec"`
}

// Metadata is the part of a manifest's metadata the runner reads.
type Metadata struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// SourceSpec is a KafkaSource's spec.
type SourceSpec struct {
	BootstrapServers []string     `json:"bootstrapServers"`
	Topics           []string     `json:"topics"`
	ConsumerGroup    string       `json:"consumerGroup,omitempty"`
	Consumers        *int32       `json:"consumers,omitempty"`
	InitialOffset    string       `json:"initialOffset,omitempty"`
	Ordering         string       `json:"ordering,omitempty"`
	Delivery         *Delivery    `json:"delivery,omitempty"`
	Sink             Destination  `json:"sink"`
	CEOverrides      *CEOverrides `json:"ceOverrides,omitempty"`
}

// Delivery is Knative's DeliverySpec. Nil fields are unset.
type Delivery struct {
	Retry          *int32       `json:"retry,omitempty"`
	BackoffPolicy  *string      `json:"backoffPolicy,omitempty"`
	BackoffDelay   *string      `json:"backoffDelay,omitempty"`
	Timeout        *string      `json:"timeout,omitempty"`
	DeadLetterSink *Destination `json:"deadLetterSink,omitempty"`
}

// Destination is Knative's Destination: a reference to an addressable object, a URI, or both
// (the URI is then a path relative to the object's address).
type Destination struct {
	Ref *Ref   `json:"ref,omitempty"`
	URI string `json:"uri,omitempty"`
}

// Ref names a Kubernetes object.
type Ref struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace,omitempty"`
}

// CEOverrides are attributes a KafkaSource adds to every event it sends.
type CEOverrides struct {
	Extensions map[string]string `json:"extensions,omitempty"`
}

// KafkaSink is a KafkaSink manifest (eventing.knative.dev/v1alpha1), the fields the runner reads.
type KafkaSink struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       struct {
		Topic string `json:"topic"`
	} `json:"spec"`
}

// Manifests is what [Parse] found in a YAML stream.
type Manifests struct {
	Sources []Source
	Sinks   []KafkaSink
}

// Parse reads the KafkaSource and KafkaSink documents of a YAML stream (documents separated by
// "---"). Other kinds are skipped. A KafkaSource without a name, topics or sink, or with an
// initialOffset or ordering KafkaSource's webhook refuses, is an error.
func Parse(data []byte) (Manifests, error) {
	var m Manifests
	for i, doc := range splitDocuments(data) {
		var head struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return Manifests{}, fmt.Errorf("document %d: %w", i+1, err)
		}
		switch head.Kind {
		case "KafkaSource":
			var s Source
			if err := yaml.Unmarshal(doc, &s); err != nil {
				return Manifests{}, fmt.Errorf("document %d: %w", i+1, err)
			}
			if err := s.validate(); err != nil {
				return Manifests{}, fmt.Errorf("kafkasource %q: %w", s.Metadata.Name, err)
			}
			m.Sources = append(m.Sources, s)
		case "KafkaSink":
			var k KafkaSink
			if err := yaml.Unmarshal(doc, &k); err != nil {
				return Manifests{}, fmt.Errorf("document %d: %w", i+1, err)
			}
			if k.Metadata.Name == "" || k.Spec.Topic == "" {
				return Manifests{}, fmt.Errorf("document %d: kafkasink needs metadata.name and spec.topic", i+1)
			}
			m.Sinks = append(m.Sinks, k)
		}
	}
	return m, nil
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range docSeparator.Split(string(data), -1) {
		if b := bytes.TrimSpace([]byte(d)); len(b) > 0 {
			docs = append(docs, b)
		}
	}
	return docs
}

func (s Source) validate() error {
	var errs []error
	if s.Metadata.Name == "" {
		errs = append(errs, errors.New("metadata.name is required"))
	}
	if len(s.Spec.Topics) == 0 {
		errs = append(errs, errors.New("spec.topics is required"))
	}
	if s.Spec.Sink.Ref == nil && s.Spec.Sink.URI == "" {
		errs = append(errs, errors.New("spec.sink is required"))
	}
	switch s.Spec.InitialOffset {
	case "", "earliest", "latest":
	default:
		errs = append(errs, fmt.Errorf("spec.initialOffset: want earliest or latest, got %q", s.Spec.InitialOffset))
	}
	switch s.Spec.Ordering {
	case "", "ordered", "unordered":
	default:
		errs = append(errs, fmt.Errorf("spec.ordering: want ordered or unordered, got %q", s.Spec.Ordering))
	}
	if c := s.Spec.Consumers; c != nil && (*c < 1 || *c > maxConsumers) {
		errs = append(errs, fmt.Errorf("spec.consumers: want 1 to %d, got %d", maxConsumers, *c))
	}
	if _, err := s.policy(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// maxConsumers bounds spec.consumers for the local runner: each consumer is a group member with
// its own client and up to MaxInFlight deliveries.
const maxConsumers = 64

// consumers is spec.consumers, 1 when unset.
func (s Source) consumers() int {
	if s.Spec.Consumers == nil {
		return 1
	}
	return int(*s.Spec.Consumers)
}

// policy is the resolved retry and timeout behaviour of a source.
type policy struct {
	retry       int           // retries after the first attempt
	exponential bool          // delay×2^n, else linear delay×n
	delay       time.Duration // backoff base
	timeout     time.Duration // per attempt
}

// Defaults as eventing-kafka-broker applies them: the source reconciler's delivery when a
// KafkaSource has none, the controller's default backoff delay when retry is set without one, and
// the dispatcher's per-attempt timeout when none is set.
const (
	defaultRetry        = 10
	defaultBackoffDelay = 300 * time.Millisecond
	retryBackoffDelay   = 200 * time.Millisecond
	defaultTimeout      = 600 * time.Second
)

// policy resolves spec.delivery as eventing-kafka-broker does: without delivery, 10 retries,
// exponential, 0.3s, 600s per attempt; with delivery only what it sets applies.
func (s Source) policy() (policy, error) {
	d := s.Spec.Delivery
	if d == nil {
		return policy{retry: defaultRetry, exponential: true, delay: defaultBackoffDelay, timeout: defaultTimeout}, nil
	}
	p := policy{timeout: defaultTimeout}
	if d.Retry != nil {
		if *d.Retry < 0 {
			return p, fmt.Errorf("spec.delivery.retry: want >= 0, got %d", *d.Retry)
		}
		p.retry = int(*d.Retry)
		p.delay = retryBackoffDelay
		if d.BackoffDelay != nil {
			v, err := parseISODuration(*d.BackoffDelay)
			if err != nil {
				return p, fmt.Errorf("spec.delivery.backoffDelay: %w", err)
			}
			if v > 0 {
				p.delay = v
			}
		}
		p.exponential = d.BackoffPolicy == nil || *d.BackoffPolicy != "linear"
	}
	if d.Timeout != nil {
		v, err := parseISODuration(*d.Timeout)
		if err != nil {
			return p, fmt.Errorf("spec.delivery.timeout: %w", err)
		}
		if v > 0 {
			p.timeout = v
		}
	}
	return p, nil
}

// backoff returns the wait before retry n (1 for the first retry).
func (p policy) backoff(n int) time.Duration {
	if p.exponential {
		f := float64(p.delay) * math.Pow(2, float64(n))
		if f > float64(math.MaxInt64/2) {
			return math.MaxInt64 / 2
		}
		return time.Duration(f)
	}
	return p.delay * time.Duration(n)
}

var isoDuration = regexp.MustCompile(`^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// parseISODuration parses an ISO 8601 duration of days, hours, minutes and seconds, such as
// PT0.3S, PT30S, PT1M30S or P1D, as Knative's delivery fields are written.
func parseISODuration(s string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" || (len(s) > 1 && s[len(s)-1] == 'T') {
		return 0, fmt.Errorf("want an ISO 8601 duration such as PT0.3S, got %q", s)
	}
	units := [...]time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second}
	var total float64
	for i, u := range units {
		if m[i+1] == "" {
			continue
		}
		v, err := strconv.ParseFloat(m[i+1], 64)
		if err != nil {
			return 0, fmt.Errorf("want an ISO 8601 duration such as PT0.3S, got %q", s)
		}
		total += v * float64(u)
	}
	return time.Duration(total), nil
}
