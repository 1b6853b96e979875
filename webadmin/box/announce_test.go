package box

import (
	"bytes"
	"crypto/x509"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/matthan/matthan/daemon/boxname"
	"github.com/matthan/matthan/webadmin"
)

// TestCertificateCoversBoxName: a first-boot certificate covers
// matthan-XXXX.local; an older certificate without it is kept (same
// fingerprint) and the log says so.
func TestCertificateCoversBoxName(t *testing.T) {
	var withMAC string
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if len(i.HardwareAddr) == 6 {
			withMAC = i.Name
			break
		}
	}
	if withMAC == "" {
		t.Skip("no interface with a MAC address on this machine")
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	id := identify(Options{Uplink: withMAC}, log)
	if !boxname.Valid(id.name) {
		t.Fatalf("identify(%s) = %+v", withMAC, id)
	}
	dir := t.TempDir()
	cert, _, err := webadmin.LoadOrCreateCert(dir, id.certHosts())
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	if err := leaf.VerifyHostname(id.name + ".local"); err != nil {
		t.Errorf("new certificate: %v", err)
	}
	checkCertName(cert, id, log)
	if strings.Contains(logs.String(), "predates") {
		t.Errorf("warned about a certificate that covers the name:\n%s", logs.String())
	}

	old := t.TempDir()
	_, fp1, err := webadmin.LoadOrCreateCert(old, nil) // made before boxes had names
	if err != nil {
		t.Fatal(err)
	}
	cert2, fp2, err := webadmin.LoadOrCreateCert(old, id.certHosts())
	if err != nil || fp2 != fp1 {
		t.Fatalf("existing certificate replaced: %s → %s, %v", fp1, fp2, err)
	}
	checkCertName(cert2, id, log)
	if !strings.Contains(logs.String(), "predates the box name") {
		t.Errorf("no warning for a certificate without the name:\n%s", logs.String())
	}
}

func TestIdentifyWithoutUplink(t *testing.T) {
	log := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	for _, opt := range []Options{{}, {Uplink: "lo"}, {Uplink: "no-such-if0"}, {BoardFile: "/nonexistent/board.json"}} {
		if id := identify(opt, log); id.name != "" || id.certHosts() != nil {
			t.Errorf("identify(%+v) = %+v, want no name", opt, id)
		}
	}
}
