// Package env reads typed configuration from environment variables, with defaults, strict parsing and
// *_FILE secrets.
//
// Library code never calls [os.Getenv]: main passes os.Getenv and tests pass a map lookup, such as
//
//	getenv := func(k string) string { return map[string]string{"PORT": "9090"}[k] }
//
// An unset or empty variable means "use the default". A set value that does not parse is an error
// naming the variable, the expected form and the value, for example
// `PORT: want an integer, got "abc"`. Values are not trimmed: " 8080" is an error.
package env

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Getenv looks up an environment variable by name and returns "" when it is unset, like [os.Getenv].
type Getenv func(string) string

// String returns the value of name, or def when it is unset or empty.
func String(getenv Getenv, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// Int returns the value of name parsed as a base-10 integer, or def when it is unset or empty.
func Int(getenv Getenv, name string, def int) (int, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s: want an integer, got %q", name, v)
	}
	return n, nil
}

// Duration returns the value of name parsed by [time.ParseDuration] ("500ms", "2s", "1m30s"; "0" is
// allowed), or def when it is unset or empty. Negative durations are an error.
func Duration(getenv Getenv, name string, def time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s: want a non-negative duration such as 500ms, 2s or 1m, got %q", name, v)
	}
	return d, nil
}

// Bool returns the value of name parsed by [strconv.ParseBool] (1, t, true, 0, f, false, in any of
// the cases ParseBool accepts), or def when it is unset or empty.
func Bool(getenv Getenv, name string, def bool) (bool, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s: want true or false, got %q", name, v)
	}
	return b, nil
}

// byteUnits maps a size suffix to its multiplier. Suffixes are case-sensitive: KiB, MiB, GiB and TiB
// are powers of 1024; kB (or KB), MB, GB and TB are powers of 1000; B is 1.
var byteUnits = map[string]int64{
	"B":   1,
	"kB":  1000,
	"KB":  1000,
	"MB":  1000 * 1000,
	"GB":  1000 * 1000 * 1000,
	"TB":  1000 * 1000 * 1000 * 1000,
	"KiB": 1 << 10,
	"MiB": 1 << 20,
	"GiB": 1 << 30,
	"TiB": 1 << 40,
}

// Bytes returns the value of name as a number of bytes, or def when it is unset or empty. The value
// is a non-negative integer with an optional unit: "1048576", "512KiB", "1MiB", "10MB", "1 GiB".
// KiB, MiB, GiB and TiB are powers of 1024; kB (or KB), MB, GB and TB are powers of 1000. Units are
// case-sensitive and fractions are not accepted.
func Bytes(getenv Getenv, name string, def int64) (int64, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := parseBytes(v)
	if err != nil {
		return 0, fmt.Errorf("%s: want a size in bytes such as 1048576, 512KiB, 1MiB or 10MB, got %q", name, v)
	}
	return n, nil
}

func parseBytes(s string) (int64, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, errors.New("no digits")
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, err
	}
	unit := strings.TrimPrefix(s[i:], " ")
	if unit == "" {
		return n, nil
	}
	mult, ok := byteUnits[unit]
	if !ok {
		return 0, errors.New("unknown unit")
	}
	if n > math.MaxInt64/mult {
		return 0, errors.New("overflow")
	}
	return n * mult, nil
}

// Secret returns a secret: the value of name, or else the content of the file named by name+"_FILE"
// with trailing newlines (\n, \r\n) trimmed, or else def. Setting both name and name_FILE is an
// error, as is an unreadable file. The returned error never contains the secret.
//
// This covers Kubernetes secret volumes and OpenFaaS secrets under /var/openfaas/secrets.
func Secret(getenv Getenv, name, def string) (string, error) {
	fileVar := name + "_FILE"
	v, path := getenv(name), getenv(fileVar)
	switch {
	case v != "" && path != "":
		return "", fmt.Errorf("%s and %s are both set: want only one", name, fileVar)
	case v != "":
		return v, nil
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("%s: read secret file: %w", fileVar, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	default:
		return def, nil
	}
}
