package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Admin is the part of a Kafka admin client that [ReadLag] and [ListOffsets] read with; a
// *kadm.Client satisfies it.
type Admin interface {
	DescribeGroups(ctx context.Context, groups ...string) (kadm.DescribedGroups, error)
	FetchOffsets(ctx context.Context, group string) (kadm.OffsetResponses, error)
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

// ReadLag reads the lag of each of groups and the end offsets of topic. It computes what kadm's
// Lag does, with fewer requests in fewer rounds: at once, a DescribeGroups and an OffsetFetch per
// group and one ListOffsets of topic's end offsets, shared by the groups. A second round is needed
// only to list start offsets, when a group has a partition without a commit (its lag counts from
// the partition's start), and the offsets of any other topic a group is on.
//
// It asks for one group per request: asked together (kadm's Lag with both names, Kafka 4.1), a
// group that does not exist was answered with the other group's state and offsets in 3 or more
// of 30 runs of the dashboard's TestPipeline; one at a time, in none of 45. (kadm's Lag uses the
// slice of names it is given as scratch space, so a caller that reads the slice afterwards, as
// ReadLag then did, can find the names reordered or one in place of the other.)
func ReadLag(ctx context.Context, adm Admin, topic string, groups ...string) (*TopicLag, error) {
	type groupRead struct {
		described   kadm.DescribedGroups
		describeErr error
		fetched     kadm.OffsetResponses
		fetchErr    error
	}
	var (
		wg        sync.WaitGroup
		reads     = make([]groupRead, len(groups))
		listed    kadm.ListedOffsets
		listedErr error
	)
	wg.Go(func() { listed, listedErr = adm.ListEndOffsets(ctx, topic) })
	for i, g := range groups {
		r := &reads[i]
		wg.Go(func() { r.described, r.describeErr = adm.DescribeGroups(ctx, g) })
		wg.Go(func() { r.fetched, r.fetchErr = adm.FetchOffsets(ctx, g) })
	}
	wg.Wait()
	if listedErr != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, listedErr)
	}
	for i, r := range reads {
		if r.describeErr != nil {
			return nil, fmt.Errorf("describe group %s: %w", groups[i], r.describeErr)
		}
	}

	// As in kadm's Lag, a group's lag covers the partitions assigned to it, those it committed to,
	// and every partition of a topic it is assigned, committed or joined to.
	otherEnds, needStarts := map[string]bool{}, map[string]bool{}
	for i, g := range groups {
		r := reads[i]
		dg, ok := r.described[g]
		if !ok || dg.Err != nil || r.fetchErr != nil {
			continue // no lag computed
		}
		on := dg.AssignedPartitions()
		on.MergeTopics(dg.JoinTopics())
		on.Merge(r.fetched.Partitions())
		for t := range on {
			if t != topic {
				otherEnds[t], needStarts[t] = true, true
				continue
			}
			for p, end := range listed[t] {
				if c, committed := r.fetched.Lookup(t, p); end.Err == nil && (!committed || c.At < 0) {
					needStarts[t] = true
				}
			}
		}
	}
	ends, starts := listed, kadm.ListedOffsets{}
	if len(otherEnds) > 0 || len(needStarts) > 0 {
		var (
			extraEnds        kadm.ListedOffsets
			endErr, startErr error
		)
		if len(otherEnds) > 0 {
			wg.Go(func() { extraEnds, endErr = adm.ListEndOffsets(ctx, slices.Sorted(maps.Keys(otherEnds))...) })
		}
		if len(needStarts) > 0 {
			wg.Go(func() { starts, startErr = adm.ListStartOffsets(ctx, slices.Sorted(maps.Keys(needStarts))...) })
		}
		wg.Wait()
		if endErr != nil {
			return nil, fmt.Errorf("end offsets: %w", endErr)
		}
		if startErr != nil {
			return nil, fmt.Errorf("start offsets: %w", startErr)
		}
		ends = maps.Clone(listed)
		maps.Copy(ends, extraEnds)
	}

	tl := &TopicLag{Groups: make([]GroupLag, 0, len(groups))}
	var fromEnd []PartitionLag
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			tl.End += o.Offset
			fromEnd = append(fromEnd, PartitionLag{Topic: o.Topic, Partition: o.Partition, Committed: -1, End: o.Offset})
		}
	})
	if listed.Error() != nil {
		tl.End = -1
	}
	slices.SortFunc(fromEnd, func(a, b PartitionLag) int { return int(a.Partition - b.Partition) })

	for i, g := range groups {
		r := reads[i]
		gl := GroupLag{Group: g}
		dg, ok := r.described[g]
		if !ok {
			gl.Err = fmt.Errorf("group %s: not described", g)
			tl.Groups = append(tl.Groups, gl)
			continue
		}
		l := kadm.DescribedGroupLag{Group: g, State: dg.State, Members: dg.Members, DescribeErr: dg.Err}
		if dg.Err == nil {
			if r.fetchErr != nil {
				l.FetchErr = r.fetchErr
			} else {
				l.Lag = kadm.CalculateGroupLagWithStartOffsets(dg, r.fetched, starts, ends)
			}
		}
		if l.Error() != nil && !groupMissing(l) {
			gl.Err = fmt.Errorf("group %s: %w", g, l.Error())
			tl.Groups = append(tl.Groups, gl)
			continue
		}
		gl.State, gl.Members = l.State, len(l.Members)
		for _, m := range l.Lag.Sorted() {
			p := PartitionLag{Topic: m.Topic, Partition: m.Partition, Committed: m.Commit.At, End: m.End.Offset, Lag: max(m.Lag, 0)}
			gl.Partitions = append(gl.Partitions, p)
			gl.Lag += p.Lag
		}
		if len(gl.Partitions) == 0 {
			gl.Partitions = slices.Clone(fromEnd)
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
// the records with offsets in [start, end). It lists both at once. Any partition whose offsets
// could not be listed fails the whole call.
func ListOffsets(ctx context.Context, adm Admin, topic string) (start, end map[int32]int64, err error) {
	var (
		wg               sync.WaitGroup
		starts, ends     kadm.ListedOffsets
		startErr, endErr error
	)
	wg.Go(func() { starts, startErr = adm.ListStartOffsets(ctx, topic) })
	wg.Go(func() { ends, endErr = adm.ListEndOffsets(ctx, topic) })
	wg.Wait()
	if startErr != nil {
		return nil, nil, fmt.Errorf("start offsets of %s: %w", topic, startErr)
	}
	if endErr != nil {
		return nil, nil, fmt.Errorf("end offsets of %s: %w", topic, endErr)
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
