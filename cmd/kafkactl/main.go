// Command kafkactl is the local stack's Kafka helper: it checks that a broker answers a metadata
// request, and creates the project's topics with the seed's retention.
//
//	kafkactl [-brokers 127.0.0.1:9092] ping
//	kafkactl [-brokers 127.0.0.1:9092] ensure-topics [-partitions 3] [-max-message-bytes n] topic...
//
// ensure-topics is idempotent: an existing topic keeps its partitions (it is never shrunk, and
// grown only with -grow) and gets the retention settings applied again.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// topicConfig is the seed's retention: two days and 1 GiB per partition.
var topicConfig = map[string]*string{
	"retention.ms":    ptr("172800000"),
	"retention.bytes": ptr("1073741824"),
}

func ptr(s string) *string { return &s }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kafkactl:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("kafkactl", flag.ContinueOnError)
	brokers := fs.String("brokers", envOr("KAFKA_BROKERS", "127.0.0.1:9092"), "comma-separated seed brokers")
	timeout := fs.Duration("timeout", 10*time.Second, "overall time limit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("usage: kafkactl [-brokers list] ping | ensure-topics [-partitions n] topic...")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(*brokers, ",")...))
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	switch cmd := fs.Arg(0); cmd {
	case "ping":
		md, err := adm.BrokerMetadata(ctx)
		if err != nil {
			return fmt.Errorf("metadata request to %s: %w", *brokers, err)
		}
		fmt.Printf("kafka cluster %s: %d broker(s)\n", md.Cluster, len(md.Brokers))
		return nil
	case "ensure-topics":
		sub := flag.NewFlagSet("ensure-topics", flag.ContinueOnError)
		partitions := sub.Int("partitions", 3, "partitions of a topic that does not exist yet")
		grow := sub.Bool("grow", false, "add partitions to an existing topic that has fewer")
		maxMessage := sub.Int("max-message-bytes", 0, "the topics' max.message.bytes (0: the broker's default)")
		if err := sub.Parse(fs.Args()[1:]); err != nil {
			return err
		}
		configs := maps.Clone(topicConfig)
		if *maxMessage > 0 {
			configs["max.message.bytes"] = ptr(strconv.Itoa(*maxMessage))
		}
		return ensureTopics(ctx, adm, int32(*partitions), *grow, configs, sub.Args())
	default:
		return fmt.Errorf("unknown command %q (want ping or ensure-topics)", cmd)
	}
}

func ensureTopics(ctx context.Context, adm *kadm.Client, partitions int32, grow bool, configs map[string]*string, topics []string) error {
	if len(topics) == 0 {
		return errors.New("ensure-topics: name at least one topic")
	}
	for _, topic := range topics {
		res, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
		switch {
		case err == nil && res.Err == nil:
			fmt.Printf("topic %s: created (%d partitions)\n", topic, partitions)
			continue
		case errors.Is(err, kerr.TopicAlreadyExists) || errors.Is(res.Err, kerr.TopicAlreadyExists):
		case err != nil:
			return fmt.Errorf("create topic %s: %w", topic, err)
		default:
			return fmt.Errorf("create topic %s: %w", topic, res.Err)
		}
		if err := alignExisting(ctx, adm, topic, partitions, grow, configs); err != nil {
			return err
		}
	}
	return nil
}

func alignExisting(ctx context.Context, adm *kadm.Client, topic string, partitions int32, grow bool, configs map[string]*string) error {
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("describe topic %s: %w", topic, err)
	}
	have := int32(len(details[topic].Partitions))
	if grow && have < partitions {
		if _, err := adm.UpdatePartitions(ctx, int(partitions), topic); err != nil {
			return fmt.Errorf("grow topic %s to %d partitions: %w", topic, partitions, err)
		}
		fmt.Printf("topic %s: grown from %d to %d partitions\n", topic, have, partitions)
		have = partitions
	}
	alter := make([]kadm.AlterConfig, 0, len(configs))
	for name, value := range configs {
		alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: name, Value: value})
	}
	resp, err := adm.AlterTopicConfigs(ctx, alter, topic)
	for _, r := range resp {
		err = errors.Join(err, r.Err)
	}
	if err != nil {
		return fmt.Errorf("set retention of topic %s: %w", topic, err)
	}
	fmt.Printf("topic %s: exists (%d partitions), configs set\n", topic, have)
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
