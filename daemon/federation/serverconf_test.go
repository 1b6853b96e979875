package federation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// TestDocsServerConfig: the recommended configuration in docs/ is what
// ServerConfig writes (for its two example boxes) and nats-server accepts it.
func TestDocsServerConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "district-server.conf"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ServerConfig("0.0.0.0:4222", "/var/lib/nats", "district", "CHANGE-ME (the service password)", []BoxUser{
		{Box: "xa-an-binh", NKey: "UDRB37K5CEZ6JQLGGBPZCHMP663ERZAC4O3L5VAGIQNRYEYTZ4AW4V6Y"},
		{Box: "xa-hoa-phu", NKey: "UDCVPUNO54X4WIBTCMBESHDHXVCY5AHQYBETKQVECJAT6RWW52FXKQ4X"}}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(b), want) {
		t.Fatalf("docs/district-server.conf is not ServerConfig's output; regenerate it with matthan-district -print-server-config:\n%s", want)
	}
	p := filepath.Join(t.TempDir(), "c.conf")
	os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "/var/lib/nats", t.TempDir())), 0o600)
	if _, err := server.ProcessConfigFile(p); err != nil {
		t.Fatalf("nats-server refuses it: %v", err)
	}
	if _, err := ServerConfig("x", "y", "u", "p", []BoxUser{{Box: "A B", NKey: "U"}}, "", ""); err == nil {
		t.Fatal("a bad box ID was accepted")
	}
}
