package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Config is what a [Runner] needs besides its sources. Brokers and Sinks are required; the zero
// value of every other field means its default, written in its comment.
type Config struct {
	// Brokers are the seed brokers of the Kafka cluster to read and to dead-letter to. They
	// replace every source's spec.bootstrapServers, which names a cluster address.
	Brokers []string
	// Sinks maps the name of a sink ref (spec.sink.ref.name, e.g. "score") to the base URL that
	// serves it locally (e.g. "http://127.0.0.1:8081"). A sink given as a plain uri needs no entry.
	Sinks map[string]string
	// DeadLetterTopic is the topic dead letters go to when a source's deadLetterSink does not name
	// a KafkaSink given in KafkaSinks; default "sentence-dlq".
	DeadLetterTopic string
	// KafkaSinks maps a KafkaSink name to its topic, from KafkaSink manifests; optional.
	KafkaSinks map[string]string
	// Namespace is the namespace of a source whose metadata has none; default "default".
	Namespace string
	// CommitInterval is how often final offsets are committed; default 5s, as KafkaSource.
	CommitInterval time.Duration
	// MaxInFlight is the unordered in-flight bound per source; default 50, as KafkaSource.
	MaxInFlight int
	// HTTPClient posts the events. Nil means the runner's own minimal HTTP/1.1 client for
	// http:// sinks and [NewHTTPClient]() for https:// ones.
	HTTPClient *http.Client
	// Logger receives lifecycle lines and one line per dead letter; default discards.
	Logger *slog.Logger
	// Metrics receives the series listed in the package doc; default a private registry's.
	Metrics *Metrics
	// KafkaOptions are extra franz-go options for every client, for tests and tuning.
	KafkaOptions []kgo.Opt
}

// Runner consumes the topics of its KafkaSources and delivers each record as KafkaSource does.
type Runner struct {
	cfg     Config
	rawHTTP bool // post to http:// sinks with rawClient
	sources []*source
	dlq     *kgo.Client
}

// New checks the sources against cfg and returns a Runner. It connects to nothing yet.
func New(cfg Config, sources []Source) (*Runner, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafkasource: no brokers")
	}
	if len(sources) == 0 {
		return nil, errors.New("kafkasource: no KafkaSource")
	}
	if cfg.DeadLetterTopic == "" {
		cfg.DeadLetterTopic = "sentence-dlq"
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = 5 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 50
	}
	rawHTTP := cfg.HTTPClient == nil
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = NewHTTPClient()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	r := &Runner{cfg: cfg, rawHTTP: rawHTTP}
	seen := map[string]bool{}
	for _, s := range sources {
		if err := s.validate(); err != nil {
			return nil, fmt.Errorf("kafkasource %q: %w", s.Metadata.Name, err)
		}
		// spec.consumers members of the source's group, each with its own partitions and
		// in-flight bound, as KafkaSource spreads them over its dispatcher pods.
		for i := range s.consumers() {
			src, err := r.newSource(s)
			if err != nil {
				return nil, fmt.Errorf("kafkasource %q: %w", s.Metadata.Name, err)
			}
			if i == 0 && seen[src.group] {
				return nil, fmt.Errorf("kafkasource %q: consumer group %q is used twice", s.Metadata.Name, src.group)
			}
			seen[src.group] = true
			r.sources = append(r.sources, src)
		}
	}
	return r, nil
}

func (r *Runner) newSource(s Source) (*source, error) {
	pol, _ := s.policy() // validated
	ns := s.Metadata.Namespace
	if ns == "" {
		ns = r.cfg.Namespace
	}
	target, err := r.resolveSink(s.Spec.Sink)
	if err != nil {
		return nil, err
	}
	src := &source{
		r:           r,
		name:        s.Metadata.Name,
		group:       s.Spec.ConsumerGroup,
		topics:      s.Spec.Topics,
		ordered:     s.Spec.Ordering != "unordered",
		earliest:    s.Spec.InitialOffset == "earliest",
		wrap:        newWrapper(ns, s.Metadata.Name, s.Spec.CEOverrides),
		dest:        target.String(),
		log:         r.cfg.Logger.With(slog.String("kafkasource", s.Metadata.Name)),
		m:           r.cfg.Metrics.forSource(s.Metadata.Name),
		states:      map[tp]*partState{},
		knNamespace: []string{ns},
	}
	src.send = &sender{client: r.cfg.HTTPClient, target: target, namespace: ns, policy: pol, onRetry: src.m.retries.Inc, log: src.log}
	if r.rawHTTP && target.Scheme == "http" {
		src.send.raw = newRawClient(target, r.cfg.MaxInFlight+8)
	}
	if src.group == "" {
		// KafkaSource defaults the group to the source's UID; a name is as unique locally.
		src.group = "kafkasource-" + ns + "-" + s.Metadata.Name
	}
	if d := s.Spec.Delivery; d != nil && d.DeadLetterSink != nil {
		src.dlqTopic = r.cfg.DeadLetterTopic
		if ref := d.DeadLetterSink.Ref; ref != nil && ref.Kind == "KafkaSink" {
			if t, ok := r.cfg.KafkaSinks[ref.Name]; ok {
				src.dlqTopic = t
			}
		}
	}
	return src, nil
}

// resolveSink turns a Destination into a URL: the ref's mapped URL, with uri as a path relative
// to it, or uri alone.
func (r *Runner) resolveSink(d Destination) (*url.URL, error) {
	if d.Ref == nil {
		u, err := url.Parse(d.URI)
		if err != nil || !u.IsAbs() {
			return nil, fmt.Errorf("spec.sink.uri %q is not an absolute URL", d.URI)
		}
		return u, nil
	}
	base, ok := r.cfg.Sinks[d.Ref.Name]
	if !ok {
		return nil, fmt.Errorf("no URL for sink %q (map it with --sink %s=http://host:port)", d.Ref.Name, d.Ref.Name)
	}
	u, err := url.Parse(base)
	if err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("sink %q: %q is not an absolute URL", d.Ref.Name, base)
	}
	if d.URI != "" {
		rel, err := url.Parse(d.URI)
		if err != nil {
			return nil, fmt.Errorf("spec.sink.uri %q: %w", d.URI, err)
		}
		u = u.ResolveReference(rel)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u, nil
}

// deadLetterMaxBytes is the largest dead letter the runner produces: the dead-letter topic's
// max.message.bytes.
const deadLetterMaxBytes = 2 << 20

// Run consumes and delivers until ctx is cancelled, then stops fetching, abandons in-flight
// events without committing them, commits what is final and leaves the groups. It returns nil
// after such a shutdown, or the error that stopped a source early.
func (r *Runner) Run(ctx context.Context) error {
	dlq, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(r.cfg.Brokers...),
		kgo.ProducerLinger(2 * time.Millisecond),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		// A dead letter is a whole record plus the error attributes, so it can exceed the
		// client's 1 MB default batch size; the dead-letter topic takes up to 2 MiB
		// (max.message.bytes, set by infra/local and infra/knative/topics.yaml).
		kgo.ProducerBatchMaxBytes(deadLetterMaxBytes),
	}, r.cfg.KafkaOptions...)...)
	if err != nil {
		return fmt.Errorf("kafkasource: dead-letter producer: %w", err)
	}
	defer dlq.Close()
	r.dlq = dlq

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(r.sources))
	for _, s := range r.sources {
		go func() {
			err := s.run(ctx)
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	var all []error
	for range r.sources {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// tp names a partition.
type tp struct {
	topic     string
	partition int32
}

// source runs one KafkaSource.
type source struct {
	r        *Runner
	name     string
	group    string
	topics   []string
	ordered  bool
	earliest bool
	wrap     *wrapper
	send     *sender
	dest     string
	dlqTopic string // "" when the source has no dead-letter sink
	log      *slog.Logger
	m        *sourceMetrics
	// knNamespace is the Kn-Namespace header value, shared by every event.
	knNamespace []string

	cl *kgo.Client

	mu     sync.Mutex
	states map[tp]*partState
	lane   chan *job // unordered: the shared queue of the workers
	wg     sync.WaitGroup
	taken  chan struct{} // a worker took a job: there may be room to poll
}

// job is one record to deliver.
type job struct {
	st  *partState
	rec *kgo.Record
}

// preferReply is the Prefer header value; net/http only reads request headers, so events share it.
var preferReply = []string{"reply"}

// laneCap bounds the records queued per lane, and so what a poll may fetch.
const laneCap = 1024

func (s *source) run(ctx context.Context) error {
	reset := kgo.NewOffset().AtEnd()
	if s.earliest {
		reset = kgo.NewOffset().AtStart()
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(s.r.cfg.Brokers...),
		kgo.ConsumerGroup(s.group),
		kgo.ConsumeTopics(s.topics...),
		kgo.ConsumeResetOffset(reset),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(s.assigned),
		kgo.OnPartitionsRevoked(s.revoked),
		kgo.OnPartitionsLost(s.lost),
		kgo.FetchMaxWait(500 * time.Millisecond),
		// A crashed runner's partitions move on after 10s rather than Kafka's 45s.
		kgo.SessionTimeout(10 * time.Second),
		kgo.HeartbeatInterval(time.Second),
	}, s.r.cfg.KafkaOptions...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafkasource %s: client: %w", s.name, err)
	}
	s.cl = cl
	s.taken = make(chan struct{}, 1)
	workCtx, stopWork := context.WithCancel(context.Background())
	if !s.ordered {
		s.lane = make(chan *job, laneCap)
		for range s.r.cfg.MaxInFlight {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.worker(workCtx, s.lane)
			}()
		}
	}
	s.log.Info("consuming", slog.String("group", s.group), slog.Any("topics", s.topics),
		slog.Bool("ordered", s.ordered), slog.String("sink", s.dest), slog.String("dead_letter_topic", s.dlqTopic))

	commitDone := make(chan struct{})
	go func() {
		defer close(commitDone)
		s.commitLoop(ctx)
	}()
	err = s.poll(ctx)

	// Shutdown: abandon what is in flight, commit what is final, leave the group.
	s.mu.Lock()
	for _, st := range s.states {
		st.abandon()
	}
	s.mu.Unlock()
	stopWork()
	s.wg.Wait()
	<-commitDone
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	s.commit(cctx, nil)
	cancel()
	cl.Close()
	if s.send.raw != nil {
		s.send.raw.close()
	}
	s.log.Info("stopped")
	return err
}

// poll fetches records and queues them while ctx lasts.
func (s *source) poll(ctx context.Context) error {
	for {
		room := s.room()
		if room < laneCap/4 {
			select {
			case <-ctx.Done():
				return nil
			case <-s.taken:
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		fetches := s.cl.PollRecords(ctx, room)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			s.cl.AllowRebalance()
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			s.log.Warn("fetch failed", slog.String("topic", topic), slog.Int("partition", int(p)), slog.Any("error", err))
		})
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			s.mu.Lock()
			st := s.states[tp{fp.Topic, fp.Partition}]
			s.mu.Unlock()
			if st == nil || st.ctx.Err() != nil {
				return
			}
			st.mu.Lock()
			st.hwm = fp.HighWatermark
			for _, rec := range fp.Records {
				st.pending = append(st.pending, pendingOffset{offset: rec.Offset})
			}
			st.mu.Unlock()
			lane := s.lane
			if s.ordered {
				lane = st.lane
			}
			for _, rec := range fp.Records {
				lane <- &job{st: st, rec: rec} // never blocks: room() bounded the poll
			}
		})
		s.cl.AllowRebalance()
	}
}

// room returns how many records may be polled without any lane overflowing.
func (s *source) room() int {
	if !s.ordered {
		return laneCap - len(s.lane)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	longest := 0
	for _, st := range s.states {
		longest = max(longest, len(st.lane))
	}
	return laneCap - longest
}

// worker delivers the jobs of lane until ctx ends.
func (s *source) worker(ctx context.Context, lane <-chan *job) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-lane:
			select {
			case s.taken <- struct{}{}:
			default:
			}
			s.handle(j)
		}
	}
}

// handle delivers one record and, once its outcome is final, marks its offset.
func (s *source) handle(j *job) {
	st := j.st
	ctx := st.ctx
	if ctx.Err() != nil {
		return // abandoned: revoked or shutting down
	}
	s.m.inFlight.Inc()
	defer s.m.inFlight.Dec()
	start := time.Now()
	ev := s.wrap.build(j.rec)
	ev.header["Prefer"] = preferReply
	ev.header["Kn-Namespace"] = s.knNamespace

	var res result
	if validHeaderValues(ev.header) {
		var err error
		res, err = s.send.deliver(ctx, ev)
		if err != nil {
			return
		}
	} else {
		res = result{err: errInvalidHeader, attempts: 0}
	}
	if res.delivered {
		s.m.delivered.Inc()
		s.m.duration.Observe(time.Since(start).Seconds())
		st.done(j.rec.Offset)
		return
	}
	if !s.deadLetter(ctx, j.rec, ev, res) {
		return
	}
	st.done(j.rec.Offset)
}

// deadLetter sends ev to the dead-letter topic and reports whether the record's outcome is
// final: true once written (or when the source has no dead-letter sink, as KafkaSource drops it
// then), false when ctx ended first.
func (s *source) deadLetter(ctx context.Context, rec *kgo.Record, ev *outEvent, res result) bool {
	attrs := []any{
		slog.String("topic", rec.Topic), slog.Int("partition", int(rec.Partition)), slog.Int64("offset", rec.Offset),
		slog.String("event_id", ev.id), slog.String("event_source", ev.source),
		slog.Int("code", res.code), slog.Int("attempts", res.attempts),
	}
	if res.err != nil {
		attrs = append(attrs, slog.String("error", res.err.Error()))
	}
	if s.dlqTopic == "" {
		s.m.dropped.Inc()
		s.log.Warn("event dropped: delivery failed and the source has no dead-letter sink", attrs...)
		return true
	}
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		err := s.r.dlq.ProduceSync(ctx, deadLetterRecord(s.dlqTopic, ev, s.dest, res)).FirstErr()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		// KafkaSource would commit and lose the event; the runner keeps it until the write works.
		s.log.Error("dead letter not written; retrying", append(attrs, slog.String("dead_letter_error", err.Error()), slog.Duration("retry_in", wait))...)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
	s.m.deadLettered()
	s.log.Warn("dead letter", append(attrs, slog.String("dead_letter_topic", s.dlqTopic))...)
	return true
}

// commitLoop commits final offsets every CommitInterval until ctx ends.
func (s *source) commitLoop(ctx context.Context) {
	t := time.NewTicker(s.r.cfg.CommitInterval)
	defer t.Stop()
	lag := time.NewTicker(time.Second)
	defer lag.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.commit(ctx, nil)
		case <-lag.C:
			s.updateLag()
		}
	}
}

// commit commits the final offset of each partition that advanced since its last commit; only
// of the partitions in only, when only is not nil.
func (s *source) commit(ctx context.Context, only []*partState) {
	if only == nil {
		s.mu.Lock()
		for _, st := range s.states {
			only = append(only, st)
		}
		s.mu.Unlock()
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	var advanced []*partState
	var heads []int64
	for _, st := range only {
		st.mu.Lock()
		head, committed := st.head, st.committed
		st.mu.Unlock()
		if head < 0 || head <= committed {
			continue
		}
		if offsets[st.topic] == nil {
			offsets[st.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[st.topic][st.partition] = kgo.EpochOffset{Epoch: -1, Offset: head}
		advanced = append(advanced, st)
		heads = append(heads, head)
	}
	if len(offsets) == 0 {
		return
	}
	s.log.Debug("committing", slog.Any("offsets", offsets))
	s.cl.CommitOffsetsSync(ctx, offsets, nil)
	// The client records an offset as committed only when the broker accepted it.
	committed := s.cl.CommittedOffsets()
	for i, st := range advanced {
		if eo, ok := committed[st.topic][st.partition]; !ok || eo.Offset < heads[i] {
			if ctx.Err() == nil {
				s.log.Warn("commit not accepted; will retry", slog.String("topic", st.topic), slog.Int("partition", int(st.partition)))
			}
			continue
		}
		st.mu.Lock()
		st.committed = max(st.committed, heads[i])
		st.mu.Unlock()
	}
}

// updateLag sets the lag gauge of every owned partition: high watermark minus the next offset
// whose outcome is not final.
func (s *source) updateLag() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.states {
		st.mu.Lock()
		hwm, head := st.hwm, st.head
		if len(st.pending) > 0 && head < 0 {
			head = st.pending[0].offset
		}
		st.mu.Unlock()
		if hwm < 0 || head < 0 {
			continue
		}
		s.m.lag(st.topic, st.partition).Set(float64(max(0, hwm-head)))
	}
}

// assigned creates the state of newly assigned partitions (and, ordered, their workers).
func (s *source) assigned(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, ps := range parts {
		for _, p := range ps {
			st := newPartState(topic, p)
			s.states[tp{topic, p}] = st
			if s.ordered {
				st.lane = make(chan *job, laneCap)
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					s.worker(st.ctx, st.lane)
				}()
			}
		}
	}
	s.log.Info("partitions assigned", slog.Any("partitions", parts))
}

// revoked abandons the in-flight events of revoked partitions and commits what was final.
func (s *source) revoked(ctx context.Context, _ *kgo.Client, parts map[string][]int32) {
	gone := s.drop(parts)
	s.commit(ctx, gone)
	s.log.Info("partitions revoked", slog.Any("partitions", parts))
}

// lost abandons the in-flight events of lost partitions; their offsets can no longer be committed.
func (s *source) lost(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	s.drop(parts)
	s.log.Warn("partitions lost", slog.Any("partitions", parts))
}

func (s *source) drop(parts map[string][]int32) []*partState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone []*partState
	for topic, ps := range parts {
		for _, p := range ps {
			k := tp{topic, p}
			if st := s.states[k]; st != nil {
				st.abandon()
				gone = append(gone, st)
				delete(s.states, k)
				s.m.deleteLag(topic, p)
			}
		}
	}
	return gone
}

// partState tracks one assigned partition: the offsets queued or in flight, in order, and the
// next offset to commit.
type partState struct {
	topic     string
	partition int32
	ctx       context.Context // cancelled when the partition is revoked or the runner stops
	cancel    context.CancelFunc
	lane      chan *job // ordered only

	mu        sync.Mutex
	pending   []pendingOffset // ascending
	head      int64           // every offset below is final; -1 until one is
	committed int64           // last committed head; -1 before the first commit
	hwm       int64           // high watermark at the last fetch; -1 before it
}

type pendingOffset struct {
	offset int64
	done   bool
}

func newPartState(topic string, p int32) *partState {
	ctx, cancel := context.WithCancel(context.Background())
	return &partState{topic: topic, partition: p, ctx: ctx, cancel: cancel, head: -1, committed: -1, hwm: -1}
}

// abandon stops the partition's work; done is ignored from now on.
func (st *partState) abandon() {
	st.mu.Lock()
	st.cancel()
	st.mu.Unlock()
}

// done records that offset's outcome is final and advances head over the final prefix.
func (st *partState) done(offset int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ctx.Err() != nil {
		return
	}
	i := sort.Search(len(st.pending), func(i int) bool { return st.pending[i].offset >= offset })
	if i == len(st.pending) || st.pending[i].offset != offset {
		return
	}
	st.pending[i].done = true
	n := 0
	for n < len(st.pending) && st.pending[n].done {
		n++
	}
	if n == 0 {
		return
	}
	st.head = st.pending[n-1].offset + 1
	st.pending = st.pending[n:]
	if cap(st.pending) > 4096 && len(st.pending) < cap(st.pending)/4 {
		st.pending = append([]pendingOffset(nil), st.pending...)
	}
}
