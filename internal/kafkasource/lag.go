package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Admin is the part of a Kafka admin client that [ReadLag] and [ListOffsets] read with; a
// *kadm.Client satisfies it.
type Admin interface {
	Lag(ctx context.Context, groups ...string) (kadm.DescribedGroupLags, error)
	ListStartOffsets(ctx context.Context, topics ...string) (kadm.ListedOffsets, error)
	ListEndOffsets(ctx context.Context, topics ...string) (kadm.ListedOffsets, error)
}

// TopicLag is how far the consumer groups of a topic (a KafkaSource's) are behind it.
type TopicLag struct {
	// End is the sum of the topic's end offsets: the number of records ever written to it, so its
	// growth is the produce rate. It is -1 when the end offset of some partition could not be
	// listed.
	End int64
	// Groups holds one entry per group asked for, in that order.
	Groups []GroupLag
}

// GroupLag is a consumer group's position.
type GroupLag struct {
	Group string
	// State is Kafka's group state: Stable, Empty, PreparingRebalance, …, and Dead for a group
	// that does not exist.
	State   string
	Members int
	// Lag is the sum of the partitions' lags.
	Lag int64
	// Partitions are the group's positions, by topic and partition, on the topics it has
	// committed to. A group that has committed nothing (or does not exist) gets every partition
	// of the topic with Committed -1 and Lag 0, since a new KafkaSource starts at the end.
	Partitions []PartitionLag
	// Err is why the group could not be described; nil when it was, or merely does not exist. The
	// other fields are then zero.
	Err error
}

// PartitionLag is a group's position in one partition.
type PartitionLag struct {
	Topic     string
	Partition int32
	// Committed is the group's committed offset, -1 when it has none.
	Committed int64
	End       int64
	// Lag is End minus Committed (End when nothing is committed), never negative.
	Lag int64
}

// ReadLag reads the lag of each of groups and the end offsets of topic. It asks for one group at a
// time: asked together (kadm's Lag with both names, Kafka 4.1), a group that does not exist was
// answered with the other group's state and offsets in 3 or more of 30 runs of the dashboard's
// TestPipeline; one at a time, in none of 45.
func ReadLag(ctx context.Context, adm Admin, topic string, groups ...string) (*TopicLag, error) {
	lags := kadm.DescribedGroupLags{}
	for _, g := range groups {
		l, err := adm.Lag(ctx, g)
		if err != nil {
			return nil, fmt.Errorf("lag: %w", err)
		}
		for name, gl := range l {
			lags[name] = gl
		}
	}
	listed, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	tl := &TopicLag{Groups: make([]GroupLag, 0, len(groups))}
	var ends []PartitionLag
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			tl.End += o.Offset
			ends = append(ends, PartitionLag{Topic: o.Topic, Partition: o.Partition, Committed: -1, End: o.Offset})
		}
	})
	if listed.Error() != nil {
		tl.End = -1
	}
	slices.SortFunc(ends, func(a, b PartitionLag) int { return int(a.Partition - b.Partition) })

	for _, g := range groups {
		l, ok := lags[g]
		gl := GroupLag{Group: g}
		switch {
		case !ok:
			gl.Err = fmt.Errorf("group %s: not described", g)
		case l.Error() != nil && !groupMissing(l):
			gl.Err = fmt.Errorf("group %s: %w", g, l.Error())
		default:
			gl.State, gl.Members = l.State, len(l.Members)
			for _, m := range l.Lag.Sorted() {
				p := PartitionLag{Topic: m.Topic, Partition: m.Partition, Committed: m.Commit.At, End: m.End.Offset, Lag: max(m.Lag, 0)}
				gl.Partitions = append(gl.Partitions, p)
				gl.Lag += p.Lag
			}
			if len(gl.Partitions) == 0 {
				gl.Partitions = slices.Clone(ends)
			}
		}
		tl.Groups = append(tl.Groups, gl)
	}
	return tl, nil
}

// groupMissing reports whether a group's lag failed only because the group does not exist.
func groupMissing(l kadm.DescribedGroupLag) bool {
	return l.State == "Dead" && (l.DescribeErr == nil || errors.Is(l.DescribeErr, kerr.GroupIDNotFound))
}

// ListOffsets returns the start and end offset of each partition of topic: the partition holds
// the records with offsets in [start, end). Any partition whose offsets could not be listed fails
// the whole call.
func ListOffsets(ctx context.Context, adm Admin, topic string) (start, end map[int32]int64, err error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, nil, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	if err := errors.Join(starts.Error(), ends.Error()); err != nil {
		return nil, nil, fmt.Errorf("offsets of %s: %w", topic, err)
	}
	start, end = map[int32]int64{}, map[int32]int64{}
	ends.Each(func(e kadm.ListedOffset) {
		s, _ := starts.Lookup(topic, e.Partition)
		start[e.Partition], end[e.Partition] = s.Offset, e.Offset
	})
	return start, end, nil
}
