package box

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/matthan/matthan/board"
	"github.com/matthan/matthan/daemon/boxname"
	"github.com/matthan/matthan/daemon/mdns"
)

// MDNSLine starts the console line that gives the admin page's address by
// name (matthan-XXXX.local).
const MDNSLine = "matthand: admin page by name: "

// identity is the box on its uplink: the interface and the name derived
// from its MAC address ("" when there is no uplink to name it by).
type identity struct {
	uplink, name string
}

// identify finds the uplink (Options.Uplink, else the board file's) and
// the box name. Without either the box is simply not announced.
func identify(opt Options, log *slog.Logger) identity {
	id := identity{uplink: opt.Uplink}
	if id.uplink == "" && opt.BoardFile != "" {
		if b, err := board.LoadFile(opt.BoardFile); err == nil {
			id.uplink = b.Network.Uplink
		}
	}
	if id.uplink == "" {
		log.Info("mdns: no uplink interface (no board file): the box is not announced by name")
		return id
	}
	name, err := boxname.ForInterface(id.uplink)
	if err != nil {
		log.Warn("mdns: no box name: the box is not announced by name", "err", err)
		return id
	}
	id.name = name
	return id
}

// certHosts are the names a new HTTPS certificate covers beside the
// defaults.
func (id identity) certHosts() []string {
	if id.name == "" {
		return nil
	}
	return []string{boxname.Host(id.name)}
}

// checkCertName says in the log when the certificate (made before the box
// had its name) does not cover it. The certificate is kept: technicians
// noted its fingerprint, and a new one would look like an attack.
func checkCertName(cert tls.Certificate, id identity, log *slog.Logger) {
	if id.name == "" || len(cert.Certificate) == 0 {
		return
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return
	}
	if err := leaf.VerifyHostname(boxname.Host(id.name)); err != nil {
		log.Warn("HTTPS certificate predates the box name and does not cover it; kept so that its fingerprint stays the one noted at first boot",
			"name", boxname.Host(id.name))
	}
}

// announce starts the mDNS responder on the uplink for the HTTPS port;
// nil when there is nothing to announce or it cannot start (logged: the
// box still works by address).
func announce(ctx context.Context, id identity, httpsPort string, console io.Writer, log *slog.Logger) *mdns.Responder {
	if id.name == "" {
		return nil
	}
	port, err := strconv.Atoi(httpsPort)
	if err != nil {
		return nil
	}
	r, err := mdns.Start(ctx, mdns.Options{Interface: id.uplink, Host: id.name, Port: port,
		Logf: func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...), "component", "mdns") }})
	if err != nil {
		log.Warn("mdns: not announced", "err", err)
		return nil
	}
	url := "https://" + boxname.Host(id.name)
	if port != 443 {
		url += ":" + httpsPort
	}
	fmt.Fprintf(console, "%s%s/\n", MDNSLine, url)
	return r
}
