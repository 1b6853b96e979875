package federation

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/matthan/matthan/firmware/atomicfile"
)

// ConfigFile is the district settings' file name in the admin page's data
// folder (DATA/web), written by the technician on the page.
const ConfigFile = "district.json"

// Config is how a box reaches its district; the technician sets it on the
// page. Empty URL: no district.
type Config struct {
	// URL is the district's NATS server, nats://host:4222 or
	// tls://host:4222. TLS is used when the server requires it (its
	// configuration has a tls block, as ServerConfig writes with a
	// certificate), when the URL says tls://, or when CAFile is set.
	URL string `json:"url"`
	// Box is this box's ID at the district (ValidBoxID).
	Box string `json:"box"`
	// NKeySeed is the box user's NKey seed (SU...); or CredsFile names a
	// user credentials file (JWT + seed) on the data partition.
	NKeySeed  string `json:"nkeySeed,omitempty"`
	CredsFile string `json:"credsFile,omitempty"`
	// CAFile, when set, is the district's CA certificate (PEM): TLS is
	// then required and checked against it.
	CAFile string `json:"caFile,omitempty"`
	// DistrictKey is the district's ed25519 public key (base64 of 32
	// bytes) that signs clip requests, enrolled by the technician.
	DistrictKey string `json:"districtKey,omitempty"`
}

// Enabled says whether a district is configured.
func (c Config) Enabled() bool { return c.URL != "" }

// Validate checks a configuration before it is saved.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
		return fmt.Errorf("district address %q: want nats://host:port or tls://host:port", c.URL)
	}
	if !ValidBoxID(c.Box) {
		return fmt.Errorf("box ID %q: use 1 to 32 of a-z, 0-9, - and _", c.Box)
	}
	if c.NKeySeed != "" {
		kp, err := nkeys.FromSeed([]byte(c.NKeySeed))
		if err != nil {
			return fmt.Errorf("NKey seed: %w", err)
		}
		if pub, _ := kp.PublicKey(); !nkeys.IsValidPublicUserKey(pub) {
			return errors.New("NKey seed: not a user seed (SU…)")
		}
	}
	if c.NKeySeed != "" && c.CredsFile != "" {
		return errors.New("give an NKey seed or a credentials file, not both")
	}
	if c.DistrictKey != "" {
		if _, err := c.districtKey(); err != nil {
			return err
		}
	}
	return nil
}

func (c Config) districtKey() (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(c.DistrictKey))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("district key: want the base64 of a 32-byte ed25519 public key")
	}
	return ed25519.PublicKey(b), nil
}

// LoadConfig reads the settings at path (none: a zero Config).
func LoadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("federation: read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("federation: %s: %w", path, err)
	}
	return c, c.Validate()
}

// SaveConfig validates c and writes it (mode 0600: it holds the seed).
func SaveConfig(path string, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return fmt.Errorf("federation: save %s: %w", path, err)
	}
	return nil
}

// connOptions are the connection options of a box or district client.
func (c Config) connOptions(name string) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectBufSize(8 << 20),
	}
	if ValidBoxID(c.Box) {
		opts = append(opts, nats.CustomInboxPrefix(InboxPrefix(c.Box)))
	}
	switch {
	case c.NKeySeed != "":
		kp, err := nkeys.FromSeed([]byte(c.NKeySeed))
		if err != nil {
			return nil, fmt.Errorf("federation: NKey seed: %w", err)
		}
		pub, err := kp.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("federation: NKey seed: %w", err)
		}
		opts = append(opts, nats.Nkey(pub, func(nonce []byte) ([]byte, error) { return kp.Sign(nonce) }))
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.CAFile))
	}
	return opts, nil
}
