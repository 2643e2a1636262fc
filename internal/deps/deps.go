package deps
import (
_ "github.com/jonreiter/govader"
_ "github.com/cloudevents/sdk-go/v2"
_ "github.com/twmb/franz-go/pkg/kgo"
_ "github.com/twmb/franz-go/pkg/kadm"
_ "github.com/jackc/pgx/v5/pgxpool"
_ "github.com/elastic/go-elasticsearch/v8"
_ "github.com/prometheus/client_golang/prometheus"
_ "github.com/google/go-cmp/cmp"
_ "sigs.k8s.io/yaml"
_ "github.com/santhosh-tekuri/jsonschema/v6"
)
