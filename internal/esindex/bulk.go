package esindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
)

// Bulk writes docs in one _bulk request with the action create and _id = Key, and returns one
// error per doc, in order: nil when the document is written, [ErrExists] when it already was (a
// redelivery), else an [*Error] as the package doc describes. It installs the template first if needed. It never
// returns a nil slice for a non-empty docs.
func (x *Index) Bulk(ctx context.Context, docs []Doc) []error { return x.bulk(ctx, "create", docs) }

// Put is [Index.Bulk] with the action index: it writes docs whether or not they exist,
// overwriting what is there. reindex and reconcile --fix use it.
func (x *Index) Put(ctx context.Context, docs []Doc) []error { return x.bulk(ctx, "index", docs) }

var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// bulkQuery keeps the answer small: no per-item _index, _id, _version, _shards, result.
var bulkQuery = url.Values{"filter_path": {"errors,items.*.status,items.*.error.type,items.*.error.reason"}}

func (x *Index) bulk(ctx context.Context, action string, docs []Doc) []error {
	errs := make([]error, len(docs))
	if len(docs) == 0 {
		return errs
	}
	if err := x.EnsureTemplate(ctx); err != nil {
		return fill(errs, err)
	}
	bp := bufPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 16<<20 {
			bufPool.Put(bp)
		}
	}()
	buf := (*bp)[:0]
	sent := make([]int, 0, len(docs)) // the doc index of each bulk item
	for i, d := range docs {
		if d.Key == "" {
			errs[i] = &Error{Type: "empty_key", Err: errors.New("document has no key")}
			continue
		}
		src, err := d.MarshalJSON()
		if err != nil {
			errs[i] = &Error{Type: "encode", Err: err}
			continue
		}
		id, _ := json.Marshal(d.Key)
		buf = append(buf, `{"`...)
		buf = append(buf, action...)
		buf = append(buf, `":{"_id":`...)
		buf = append(buf, id...)
		buf = append(buf, "}}\n"...)
		buf = append(buf, src...)
		buf = append(buf, '\n')
		sent = append(sent, i)
	}
	*bp = buf
	if len(sent) == 0 {
		return errs
	}
	res, err := x.do(ctx, http.MethodPost, "/"+x.name+"/_bulk", bulkQuery, buf)
	if err != nil {
		return fillSent(errs, sent, err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		return fillSent(errs, sent, responseError(res))
	}
	var answer struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Status int      `json:"status"`
			Error  *esError `json:"error"`
		} `json:"items"`
	}
	if err := json.NewDecoder(res.Body).Decode(&answer); err != nil {
		return fillSent(errs, sent, &Error{Status: res.StatusCode, transient: true, Err: fmt.Errorf("decode bulk answer: %w", err)})
	}
	_, _ = io.Copy(io.Discard, res.Body)
	if !answer.Errors {
		return errs
	}
	if len(answer.Items) != len(sent) {
		return fillSent(errs, sent, &Error{Status: res.StatusCode, transient: true,
			Err: fmt.Errorf("bulk answer has %d items for %d documents", len(answer.Items), len(sent))})
	}
	for j, item := range answer.Items {
		for _, r := range item { // one key: the action
			err := itemError(r.Status, r.Error)
			if err == nil && r.Status == http.StatusConflict {
				err = ErrExists
			}
			errs[sent[j]] = err
		}
	}
	return errs
}

func fill(errs []error, err error) []error {
	for i := range errs {
		errs[i] = err
	}
	return errs
}

func fillSent(errs []error, sent []int, err error) []error {
	for _, i := range sent {
		errs[i] = err
	}
	return errs
}
