package federation

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/matthan/matthan/daemon/events"
	"github.com/matthan/matthan/hwtest/fedtest"
)

// TestTLS: a district server that requires TLS; a box given the
// district's CA file connects over TLS and delivers its events, one
// without it (the certificate is the district's own) is not connected.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "district"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	ns := fedtest.Start(t, func(listen, storeDir string, keys map[string]string) (string, error) {
		return ServerConfig(listen, storeDir, fedtest.User, fedtest.Password, []BoxUser{{Box: "ta", NKey: keys["ta"]}, {Box: "tb", NKey: keys["tb"]}}, certFile, keyFile)
	}, "ta", "tb")
	d, err := OpenDistrict(DistrictOptions{URL: ns.URL, User: fedtest.User, Password: fedtest.Password, CAFile: certFile, DataDir: t.TempDir(), Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ts := &testServer{Server: ns, seeds: ns.Seeds, url: ns.URL}
	// With the CA: TLS, and the events arrive.
	cfg := ts.boxConfig("ta")
	cfg.CAFile = certFile
	cur, _ := OpenCursor(filepath.Join(t.TempDir(), "cursor"))
	b, err := StartBox(BoxOptions{Config: cfg, Outbox: memOutbox{events.Event{ID: "e1", Type: events.Motion, Start: time.Now(), Seq: 1}}, Cursor: cur})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	waitFor(t, 20*time.Second, "the event over TLS", func() bool { _, ok, _ := d.Index.Get("ta/e1"); return ok })
	if st, err := b.nc.TLSConnectionState(); err != nil || !st.HandshakeComplete {
		t.Fatalf("the box's connection is not TLS: %v", err)
	}
	// Without it: the district's own certificate is not trusted.
	cur2, _ := OpenCursor(filepath.Join(t.TempDir(), "cursor"))
	b2, err := StartBox(BoxOptions{Config: ts.boxConfig("tb"), Outbox: memOutbox{}, Cursor: cur2})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	time.Sleep(time.Second)
	if b2.Connected() {
		t.Fatal("a box connected without trusting the district's certificate")
	}
}

// memOutbox is a fixed outbox.
type memOutbox []events.Event

func (m memOutbox) ReadAfter(after uint64, limit int) ([]events.Event, error) {
	var out []events.Event
	for _, e := range m {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m memOutbox) LastSeq() uint64 { return uint64(len(m)) }
