package event

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ce "github.com/cloudevents/sdk-go/v2/event"
)

// binaryAttributes reads a binary-mode CloudEvent 1.0 straight from the headers, as KafkaSource
// delivers every record, without the SDK's message, event and validation allocations. It
// reads an event exactly as binding.ToEvent followed by Event.Validate would, and so handles
// only what it can be sure of: ok is false for anything else (another spec version, a
// structured or batch Content-Type, a data content type other than JSON, an attribute the SDK
// would refuse or that this path does not read), and the caller then decodes the request with
// the SDK, which also words the refusal. FuzzBinaryAttributes holds the two paths to the same
// records.
func binaryAttributes(h http.Header, body []byte) (a attributes, ok bool) {
	if v := h["Ce-Specversion"]; len(v) == 0 || v[0] != "1.0" {
		return a, false
	}
	var source string
	for k, v := range h {
		if !strings.HasPrefix(k, "Ce-") {
			if k == "Content-Type" {
				a.contentType = v[0]
			}
			continue
		}
		switch k {
		case "Ce-Specversion":
		case "Ce-Id":
			a.id = strings.TrimSpace(v[0]) // as the SDK keeps it
		case "Ce-Source":
			source = v[0]
		case "Ce-Type":
			a.typ = strings.TrimSpace(v[0])
		case "Ce-Time":
			t, err := time.Parse(time.RFC3339Nano, v[0])
			if err != nil {
				return a, false
			}
			a.time = t // the zero time is the SDK's "no time" too
		case "Ce-Subject":
			if strings.TrimSpace(v[0]) == "" {
				return a, false
			}
		default:
			name := k[len("Ce-"):]
			if !extensionName(name) {
				return a, false
			}
			switch {
			case strings.EqualFold(name, "knativekafkapartition"):
				a.partition = v[0]
			case strings.EqualFold(name, "knativekafkaoffset"):
				a.offset = v[0]
			}
		}
	}
	switch ct := a.contentType; {
	case ct != "" && ct != "application/json":
		return a, false // the SDK parses other media types (RFC 2046) and tells structured ones apart
	case a.id == "" || a.typ == "":
		return a, false
	}
	ref, parsed := sourceRef(source)
	if !parsed || strings.TrimSpace(ref) == "" {
		return a, false
	}
	a.source = ref
	a.data = body
	return a, true
}

// sourceRefs caches sourceRef's answers for the few sources a deployment sends: one per
// KafkaSource (and per producer). It stops growing at maxSourceRefs entries.
var (
	sourceRefs    sync.Map // string → string; only sources url.Parse takes
	sourceRefsLen atomic.Int32
)

const maxSourceRefs = 1024

// sourceRef returns source as the SDK holds it, parsed as a URI reference and formatted again,
// and whether it parses.
func sourceRef(source string) (string, bool) {
	if v, ok := sourceRefs.Load(source); ok {
		return v.(string), true
	}
	u, err := url.Parse(source)
	if err != nil {
		return "", false
	}
	ref := u.String()
	if sourceRefsLen.Load() < maxSourceRefs {
		if _, loaded := sourceRefs.LoadOrStore(source, ref); !loaded {
			sourceRefsLen.Add(1)
		}
	}
	return ref, true
}

// extensionName reports whether the SDK's HTTP binding takes the rest of a "Ce-" header's name
// as an extension: letters and digits only, within the SDK's length limit, and not a spec
// attribute (Ce-Dataschema, which this path does not read, and Ce-Datacontenttype, which the
// SDK refuses).
func extensionName(name string) bool {
	if name == "" || ce.MaxExtensionNameLength > 0 && len(name) > ce.MaxExtensionNameLength {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	for _, attr := range specAttributes {
		if len(name) == len(attr) && strings.EqualFold(name, attr) {
			return false
		}
	}
	return true
}

// specAttributes are the CloudEvents 1.0 attribute names, which no extension may take.
var specAttributes = []string{"specversion", "id", "source", "type", "time", "subject", "dataschema", "datacontenttype", "data"}
