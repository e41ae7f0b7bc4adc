package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzLoad feeds arbitrary files and -set arguments to the config loader: it
// never panics, and whatever it accepts prints (-print-config) to a file that
// loads back to the same config.
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile("../../teamtalkd.example.toml")
	if err != nil {
		f.Fatalf("the example config: %v", err)
	}
	f.Add(example, "msg.max_msgs_per_second=0")
	f.Add([]byte("services = [\"msg\"]\n[msg]\nlisten = \"127.0.0.1:0\"\n"), `services=["all"]`)
	f.Add([]byte("[msg]\nmax_msg_per_second = 5\n"), "msg.listen=127.0.0.1:18000")
	f.Add([]byte("[link]\nheartbeat = \"-1s\"\n"), "link.timeout=banana")
	f.Add([]byte("data_dir = 3\n[[msg]]\n"), "store.backend=mysql")
	f.Add([]byte("\x00\xff[\n="), "=")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, set string) {
		path := filepath.Join(dir, "fuzz.toml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var ovs []Override
		if ov, err := ParseSet(set); err == nil {
			ovs = append(ovs, ov)
		}
		cfg, err := Load(path, ovs)
		if err != nil {
			return
		}
		out, err := cfg.Encode()
		if err != nil {
			t.Fatalf("an accepted config does not print: %v", err)
		}
		again := filepath.Join(dir, "again.toml")
		if err := os.WriteFile(again, out, 0o600); err != nil {
			t.Fatal(err)
		}
		back, err := Load(again, nil)
		if err != nil {
			t.Fatalf("the printed config does not load: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(cfg, back) {
			t.Fatalf("the printed config loads differently:\n%s", out)
		}
	})
}
