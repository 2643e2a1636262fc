package env

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lookup returns a Getenv backed by m.
func lookup(m map[string]string) Getenv {
	return func(k string) string { return m[k] }
}

func TestString(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"unset", nil, "def"},
		{"empty", map[string]string{"X": ""}, "def"},
		{"set", map[string]string{"X": "v"}, "v"},
		{"kept verbatim", map[string]string{"X": " v "}, " v "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(lookup(tt.env), "X", "def"); got != tt.want {
				t.Errorf("String(X) = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestInt(t *testing.T) {
	tests := []struct {
		name    string
		val     string
		want    int
		wantErr string
	}{
		{"unset", "", 8080, ""},
		{"set", "9090", 9090, ""},
		{"zero", "0", 0, ""},
		{"negative", "-3", -3, ""},
		{"letters", "abc", 0, `PORT: want an integer, got "abc"`},
		{"space", " 80", 0, `PORT: want an integer, got " 80"`},
		{"float", "1.5", 0, `PORT: want an integer, got "1.5"`},
		{"overflow", "99999999999999999999", 0, `PORT: want an integer, got "99999999999999999999"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Int(lookup(map[string]string{"PORT": tt.val}), "PORT", 8080)
			checkErr(t, "Int", tt.val, err, tt.wantErr)
			if got != tt.want {
				t.Errorf("Int(%q) = %d, want %d", tt.val, got, tt.want)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	const wantForm = "STORE_TIMEOUT: want a non-negative duration such as 500ms, 2s or 1m, got "
	tests := []struct {
		name    string
		val     string
		want    time.Duration
		wantErr string
	}{
		{"unset", "", 2 * time.Second, ""},
		{"ms", "500ms", 500 * time.Millisecond, ""},
		{"compound", "1m30s", 90 * time.Second, ""},
		{"zero", "0", 0, ""},
		{"no unit", "5", 0, wantForm + `"5"`},
		{"negative", "-1s", 0, wantForm + `"-1s"`},
		{"garbage", "soon", 0, wantForm + `"soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Duration(lookup(map[string]string{"STORE_TIMEOUT": tt.val}), "STORE_TIMEOUT", 2*time.Second)
			checkErr(t, "Duration", tt.val, err, tt.wantErr)
			if got != tt.want {
				t.Errorf("Duration(%q) = %v, want %v", tt.val, got, tt.want)
			}
		})
	}
}

func TestBool(t *testing.T) {
	tests := []struct {
		name    string
		val     string
		def     bool
		want    bool
		wantErr string
	}{
		{"unset keeps true", "", true, true, ""},
		{"unset keeps false", "", false, false, ""},
		{"true", "true", false, true, ""},
		{"1", "1", false, true, ""},
		{"FALSE", "FALSE", true, false, ""},
		{"0", "0", true, false, ""},
		{"yes", "yes", false, false, `DEBUG: want true or false, got "yes"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Bool(lookup(map[string]string{"DEBUG": tt.val}), "DEBUG", tt.def)
			checkErr(t, "Bool", tt.val, err, tt.wantErr)
			if got != tt.want {
				t.Errorf("Bool(%q) = %v, want %v", tt.val, got, tt.want)
			}
		})
	}
}

func TestBytes(t *testing.T) {
	const wantForm = "MAX_BODY_BYTES: want a size in bytes such as 1048576, 512KiB, 1MiB or 10MB, got "
	tests := []struct {
		name    string
		val     string
		want    int64
		wantErr string
	}{
		{"unset", "", 1 << 20, ""},
		{"plain", "1048576", 1048576, ""},
		{"zero", "0", 0, ""},
		{"B", "100B", 100, ""},
		{"KiB", "512KiB", 512 * 1024, ""},
		{"MiB", "1MiB", 1 << 20, ""},
		{"GiB", "2GiB", 2 << 30, ""},
		{"TiB", "1TiB", 1 << 40, ""},
		{"kB", "3kB", 3000, ""},
		{"KB", "3KB", 3000, ""},
		{"MB", "10MB", 10_000_000, ""},
		{"GB", "1GB", 1_000_000_000, ""},
		{"TB", "1TB", 1_000_000_000_000, ""},
		{"one space", "1 MiB", 1 << 20, ""},
		{"two spaces", "1  MiB", 0, wantForm + `"1  MiB"`},
		{"lower case unit", "1mib", 0, wantForm + `"1mib"`},
		{"unknown unit", "1XB", 0, wantForm + `"1XB"`},
		{"fraction", "1.5MiB", 0, wantForm + `"1.5MiB"`},
		{"negative", "-1", 0, wantForm + `"-1"`},
		{"unit only", "MiB", 0, wantForm + `"MiB"`},
		{"leading space", " 1", 0, wantForm + `" 1"`},
		{"overflow number", "9223372036854775808", 0, wantForm + `"9223372036854775808"`},
		{"overflow unit", "9000000TiB", 0, wantForm + `"9000000TiB"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Bytes(lookup(map[string]string{"MAX_BODY_BYTES": tt.val}), "MAX_BODY_BYTES", 1<<20)
			checkErr(t, "Bytes", tt.val, err, tt.wantErr)
			if got != tt.want {
				t.Errorf("Bytes(%q) = %d, want %d", tt.val, got, tt.want)
			}
		})
	}
}

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newline := write("newline", "s3cret\n")
	crlf := write("crlf", "s3cret\r\n")
	bare := write("bare", "s3cret")
	inner := write("inner", "line1\nline2\n")
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr string // substring
	}{
		{"neither", nil, "def", ""},
		{"value", map[string]string{"DB_PASSWORD": "pw"}, "pw", ""},
		{"file trims newline", map[string]string{"DB_PASSWORD_FILE": newline}, "s3cret", ""},
		{"file trims crlf", map[string]string{"DB_PASSWORD_FILE": crlf}, "s3cret", ""},
		{"file without newline", map[string]string{"DB_PASSWORD_FILE": bare}, "s3cret", ""},
		{"file keeps inner newlines", map[string]string{"DB_PASSWORD_FILE": inner}, "line1\nline2", ""},
		{"both set", map[string]string{"DB_PASSWORD": "pw", "DB_PASSWORD_FILE": bare}, "",
			"DB_PASSWORD and DB_PASSWORD_FILE are both set: want only one"},
		{"missing file", map[string]string{"DB_PASSWORD_FILE": missing}, "", "DB_PASSWORD_FILE: read secret file: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Secret(lookup(tt.env), "DB_PASSWORD", "def")
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Secret() error = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Secret() error = %v, want one containing %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Secret() error %q leaks the secret", err)
			}
			if got != tt.want {
				t.Errorf("Secret() = %q, want %q", got, tt.want)
			}
		})
	}
}

// checkErr fails t unless err has exactly the text wantErr ("" means no error).
func checkErr(t *testing.T, fn, in string, err error, wantErr string) {
	t.Helper()
	var got string
	if err != nil {
		got = err.Error()
	}
	if got != wantErr {
		t.Errorf("%s(%q) error = %q, want %q", fn, in, got, wantErr)
	}
}
