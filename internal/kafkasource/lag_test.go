package kafkasource

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// fakeAdmin answers with canned groups, commits and offsets, and records the groups of each
// group request.
type fakeAdmin struct {
	groups       kadm.DescribedGroups
	commits      map[string]kadm.OffsetResponses
	fetchErrs    map[string]error
	starts, ends kadm.ListedOffsets

	mu       sync.Mutex
	asked    [][]string // the groups of each DescribeGroups and FetchOffsets
	listings [][]string // the topics of each ListStartOffsets and ListEndOffsets
}

func (f *fakeAdmin) record(to *[][]string, names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*to = append(*to, names)
}

func (f *fakeAdmin) DescribeGroups(_ context.Context, groups ...string) (kadm.DescribedGroups, error) {
	f.record(&f.asked, groups...)
	out := kadm.DescribedGroups{}
	for _, g := range groups {
		if dg, ok := f.groups[g]; ok {
			out[g] = dg
		}
	}
	return out, nil
}

func (f *fakeAdmin) FetchOffsets(_ context.Context, group string) (kadm.OffsetResponses, error) {
	f.record(&f.asked, group)
	if err := f.fetchErrs[group]; err != nil {
		return nil, err
	}
	return f.commits[group], nil
}

func (f *fakeAdmin) ListStartOffsets(_ context.Context, topics ...string) (kadm.ListedOffsets, error) {
	f.record(&f.listings, topics...)
	return only(f.starts, topics), nil
}

func (f *fakeAdmin) ListEndOffsets(_ context.Context, topics ...string) (kadm.ListedOffsets, error) {
	f.record(&f.listings, topics...)
	return only(f.ends, topics), nil
}

// only returns the offsets of topics in lo, as a listing of those topics would.
func only(lo kadm.ListedOffsets, topics []string) kadm.ListedOffsets {
	out := kadm.ListedOffsets{}
	for _, t := range topics {
		if ps, ok := lo[t]; ok {
			out[t] = ps
		}
	}
	return out
}

func commits(topic string, byPartition map[int32]int64) kadm.OffsetResponses {
	rs := kadm.OffsetResponses{topic: {}}
	for p, at := range byPartition {
		rs[topic][p] = kadm.OffsetResponse{Offset: kadm.Offset{Topic: topic, Partition: p, At: at}}
	}
	return rs
}

func offsets(topic string, byPartition ...int64) kadm.ListedOffsets {
	lo := kadm.ListedOffsets{topic: {}}
	for p, o := range byPartition {
		lo[topic][int32(p)] = kadm.ListedOffset{Topic: topic, Partition: int32(p), Offset: o}
	}
	return lo
}

func TestReadLag(t *testing.T) {
	ends, starts := offsets("t", 4, 2), offsets("t", 0, 1)
	maps.Copy(ends, offsets("u", 10))
	maps.Copy(starts, offsets("u", 0))
	adm := &fakeAdmin{
		ends: ends, starts: starts,
		groups: kadm.DescribedGroups{
			"busy":      {Group: "busy", State: "Stable", Members: make([]kadm.DescribedGroupMember, 2)},
			"elsewhere": {Group: "elsewhere", State: "Empty"},
			"new":       {Group: "new", State: "Empty"},
			"gone":      {Group: "gone", State: "Dead", Err: kerr.GroupIDNotFound},
			"dead":      {Group: "dead", State: "Dead"},
			"broken":    {Group: "broken", Err: errors.New("coordinator not available")},
			"unfetched": {Group: "unfetched", State: "Stable"},
		},
		commits: map[string]kadm.OffsetResponses{
			"busy":      commits("t", map[int32]int64{0: 5}),
			"elsewhere": commits("u", map[int32]int64{0: 7}),
		},
		fetchErrs: map[string]error{"dead": kerr.GroupIDNotFound, "unfetched": kerr.CoordinatorNotAvailable},
	}
	names := []string{"busy", "elsewhere", "new", "gone", "dead", "broken", "unfetched", "unknown"}
	got, err := ReadLag(t.Context(), adm, "t", names...)
	if err != nil {
		t.Fatal(err)
	}
	fromEnd := []PartitionLag{{Topic: "t", Partition: 0, Committed: -1, End: 4}, {Topic: "t", Partition: 1, Committed: -1, End: 2}}
	want := &TopicLag{End: 6, Groups: []GroupLag{
		// Partition 0 committed past its end: no lag; partition 1 uncommitted: lagging from its start.
		{Group: "busy", State: "Stable", Members: 2, Lag: 1, Partitions: []PartitionLag{
			{Topic: "t", Partition: 0, Committed: 5, End: 4}, {Topic: "t", Partition: 1, Committed: -1, End: 2, Lag: 1}}},
		{Group: "elsewhere", State: "Empty", Lag: 3, Partitions: []PartitionLag{{Topic: "u", Partition: 0, Committed: 7, End: 10, Lag: 3}}},
		{Group: "new", State: "Empty", Partitions: fromEnd},
		{Group: "gone", State: "Dead", Partitions: fromEnd},
		{Group: "dead", State: "Dead", Partitions: fromEnd},
		{Group: "broken", Err: errors.New("any")},
		{Group: "unfetched", Err: errors.New("any")},
		{Group: "unknown", Err: errors.New("any")},
	}}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b error) bool { return (a == nil) == (b == nil) })); diff != "" {
		t.Errorf("ReadLag (-want +got):\n%s", diff)
	}
	for _, a := range adm.asked {
		if len(a) != 1 {
			t.Errorf("ReadLag asked for groups %v in one request, want one group per request", a)
		}
	}
	// t's end offsets are listed once for every group; then the start offsets of t (busy has a
	// partition without a commit) and of u, and the end offsets of u (elsewhere committed to it).
	slices.SortFunc(adm.listings, slices.Compare)
	if diff := cmp.Diff([][]string{{"t"}, {"t", "u"}, {"u"}}, adm.listings); diff != "" {
		t.Errorf("ReadLag listed offsets of (-want +got):\n%s", diff)
	}

	// A group committed on every partition of topic needs no start offsets: one listing in all.
	adm.commits["busy"] = commits("t", map[int32]int64{0: 3, 1: 2})
	adm.listings = nil
	got, err = ReadLag(t.Context(), adm, "t", "busy", "new")
	if err != nil {
		t.Fatal(err)
	}
	if got.Groups[0].Lag != 1 || len(adm.listings) != 1 {
		t.Errorf("ReadLag of a group committed everywhere = lag %d with listings %v; want lag 1 and one listing", got.Groups[0].Lag, adm.listings)
	}

	adm.ends = offsets("t", 4, 2)
	adm.ends["t"][1] = kadm.ListedOffset{Topic: "t", Partition: 1, Offset: -1, Err: kerr.NotLeaderForPartition}
	if got, err := ReadLag(t.Context(), adm, "t", "new"); err != nil || got.End != -1 || len(got.Groups[0].Partitions) != 1 {
		t.Errorf("ReadLag with a partition unlisted = %+v, %v; want End -1 and the listed partition only", got, err)
	}
}

func TestListOffsets(t *testing.T) {
	adm := &fakeAdmin{starts: offsets("t", 1, 0), ends: offsets("t", 4, 2)}
	start, end, err := ListOffsets(t.Context(), adm, "t")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]map[int32]int64{{0: 1, 1: 0}, {0: 4, 1: 2}}, []map[int32]int64{start, end}, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("ListOffsets start, end (-want +got):\n%s", diff)
	}
	adm.starts["t"][1] = kadm.ListedOffset{Topic: "t", Partition: 1, Err: kerr.UnknownTopicOrPartition}
	if _, _, err := ListOffsets(t.Context(), adm, "t"); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("ListOffsets with a partition failing = %v, want its error", err)
	}
}
