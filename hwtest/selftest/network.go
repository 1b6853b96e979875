package selftest

import (
	"fmt"
	"net"
	"strings"

	"github.com/matthan/matthan/daemon/boxname"
)

// Network reports the uplink's addresses and the box's mDNS name, the two
// ways a technician's phone reaches the admin page (HTTPS on httpsPort).
// It fails when the uplink is missing or has no IPv4 address.
func Network(uplink, httpsPort string) Result {
	const name = "network"
	ifi, err := net.InterfaceByName(uplink)
	if err != nil {
		return Result{name, false, fmt.Sprintf("uplink %s: %v", uplink, err)}
	}
	var addrs, urls []string
	for _, p := range boxname.Addresses(uplink) {
		addrs = append(addrs, p.String())
		urls = append(urls, "https://"+net.JoinHostPort(p.Addr().String(), httpsPort)+"/")
	}
	box, err := boxname.FromMAC(ifi.HardwareAddr)
	nameText := "no mDNS name (" + fmt.Sprint(err) + ")"
	if err == nil {
		host := boxname.Host(box)
		nameText = "name " + host
		urls = append([]string{"https://" + net.JoinHostPort(host, httpsPort) + "/"}, urls...)
	}
	if len(addrs) == 0 {
		return Result{name, false, fmt.Sprintf("%s has no IPv4 address; %s", uplink, nameText)}
	}
	return Result{name, true, fmt.Sprintf("%s %s, %s; admin page %s", uplink, strings.Join(addrs, " "), nameText, strings.Join(urls, " or "))}
}
