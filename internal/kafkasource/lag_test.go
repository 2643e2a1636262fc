package kafkasource

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// fakeAdmin answers with canned lags and offsets.
type fakeAdmin struct {
	lags         kadm.DescribedGroupLags
	starts, ends kadm.ListedOffsets
}

func (f fakeAdmin) Lag(context.Context, ...string) (kadm.DescribedGroupLags, error) {
	return f.lags, nil
}
func (f fakeAdmin) ListStartOffsets(context.Context, ...string) (kadm.ListedOffsets, error) {
	return f.starts, nil
}
func (f fakeAdmin) ListEndOffsets(context.Context, ...string) (kadm.ListedOffsets, error) {
	return f.ends, nil
}

func offsets(topic string, byPartition ...int64) kadm.ListedOffsets {
	lo := kadm.ListedOffsets{topic: {}}
	for p, o := range byPartition {
		lo[topic][int32(p)] = kadm.ListedOffset{Topic: topic, Partition: int32(p), Offset: o}
	}
	return lo
}

func TestReadLag(t *testing.T) {
	adm := fakeAdmin{
		ends: offsets("t", 4, 2),
		lags: kadm.DescribedGroupLags{
			"busy": {Group: "busy", State: "Stable", Members: make([]kadm.DescribedGroupMember, 2), Lag: kadm.GroupLag{"t": {
				1: {Topic: "t", Partition: 1, Commit: kadm.Offset{At: -1}, End: kadm.ListedOffset{Offset: 2}, Lag: 2},
				0: {Topic: "t", Partition: 0, Commit: kadm.Offset{At: 5}, End: kadm.ListedOffset{Offset: 4}, Lag: -1},
			}}},
			"new":    {Group: "new", State: "Empty"},
			"gone":   {Group: "gone", State: "Dead", DescribeErr: kerr.GroupIDNotFound},
			"broken": {Group: "broken", DescribeErr: errors.New("coordinator not available")},
		},
	}
	got, err := ReadLag(t.Context(), adm, "t", "busy", "new", "gone", "broken", "unknown")
	if err != nil {
		t.Fatal(err)
	}
	fromEnd := []PartitionLag{{Topic: "t", Partition: 0, Committed: -1, End: 4}, {Topic: "t", Partition: 1, Committed: -1, End: 2}}
	want := &TopicLag{End: 6, Groups: []GroupLag{
		{Group: "busy", State: "Stable", Members: 2, Lag: 2, Partitions: []PartitionLag{
			{Topic: "t", Partition: 0, Committed: 5, End: 4}, {Topic: "t", Partition: 1, Committed: -1, End: 2, Lag: 2}}},
		{Group: "new", State: "Empty", Partitions: fromEnd},
		{Group: "gone", State: "Dead", Partitions: fromEnd},
		{Group: "broken", Err: errors.New("any")},
		{Group: "unknown", Err: errors.New("any")},
	}}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b error) bool { return (a == nil) == (b == nil) })); diff != "" {
		t.Errorf("ReadLag (-want +got):\n%s", diff)
	}

	adm.ends["t"][1] = kadm.ListedOffset{Topic: "t", Partition: 1, Offset: -1, Err: kerr.NotLeaderForPartition}
	if got, err := ReadLag(t.Context(), adm, "t", "new"); err != nil || got.End != -1 || len(got.Groups[0].Partitions) != 1 {
		t.Errorf("ReadLag with a partition unlisted = %+v, %v; want End -1 and the listed partition only", got, err)
	}
}

func TestListOffsets(t *testing.T) {
	adm := fakeAdmin{starts: offsets("t", 1, 0), ends: offsets("t", 4, 2)}
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
