package webadmin

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"

	"github.com/matthan/matthan/daemon/audit"
	"github.com/matthan/matthan/daemon/boxname"
	"github.com/matthan/matthan/firmware/netconf"
)

// NetworkSettings reads and saves the box's uplink setting, the file
// matthan-network.txt on the data partition that init applies at the next
// boot (netconf.Store is one).
type NetworkSettings interface {
	LoadNetwork() (netconf.Config, bool, error)
	SaveNetwork(netconf.Config) error
}

// networkForm is the setting as the page sends and shows it.
type networkForm struct {
	Mode    string   `json:"mode"` // "dhcp" or "static"
	Address string   `json:"address,omitempty"`
	Gateway string   `json:"gateway,omitempty"`
	DNS     []string `json:"dns,omitempty"`
}

func formOf(c netconf.Config) networkForm {
	if c.DHCP {
		return networkForm{Mode: "dhcp"}
	}
	f := networkForm{Mode: "static", Address: c.Address.String()}
	if c.Gateway.IsValid() {
		f.Gateway = c.Gateway.String()
	}
	for _, d := range c.DNS {
		f.DNS = append(f.DNS, d.String())
	}
	return f
}

// config checks the form field by field (the errors name the field).
func (f networkForm) config() (netconf.Config, error) {
	var c netconf.Config
	switch f.Mode {
	case "dhcp":
		c.DHCP = true
		return c, nil
	case "static":
	default:
		return c, errors.New(`mode: "dhcp" or "static"`)
	}
	p, err := netip.ParsePrefix(strings.TrimSpace(f.Address))
	if err != nil {
		return c, errors.New("address: want ADDRESS/PREFIX such as 192.168.1.50/24")
	}
	c.Address = p
	if g := strings.TrimSpace(f.Gateway); g != "" {
		if c.Gateway, err = netip.ParseAddr(g); err != nil {
			return c, errors.New("gateway: not an IPv4 address")
		}
	}
	for _, d := range f.DNS {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		a, err := netip.ParseAddr(d)
		if err != nil {
			return c, errors.New("dns " + d + ": not an IPv4 address")
		}
		c.DNS = append(c.DNS, a)
	}
	return c, c.Validate()
}

// apiNetwork: the box's name, its uplink's addresses now, and the saved
// setting (null: the board's default, DHCP on a Raspberry Pi).
func (s *Server) apiNetwork(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	out := map[string]any{"name": s.cfg.BoxName, "interface": s.cfg.Uplink, "addresses": uplinkAddrs(s.cfg.Uplink), "saved": nil}
	if s.cfg.BoxName != "" {
		out["host"] = s.cfg.BoxName + ".local"
	}
	if s.cfg.Network == nil {
		out["unavailable"] = tr(rc.lang, "err_unavailable")
		writeJSON(w, http.StatusOK, out)
		return
	}
	c, found, err := s.cfg.Network.LoadNetwork()
	switch {
	case err != nil:
		out["savedError"] = err.Error()
	case found:
		out["saved"] = formOf(c)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiNetworkPut(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Network == nil {
		s.jsonError(w, rc, http.StatusServiceUnavailable, "err_unavailable")
		return
	}
	var f networkForm
	if err := decodeJSON(r, &f); err != nil {
		s.jsonError(w, rc, http.StatusBadRequest, "err_bad_request", err.Error())
		return
	}
	if len(f.DNS) > 2*netconf.MaxDNS {
		s.jsonError(w, rc, http.StatusBadRequest, "err_network", "dns: too many")
		return
	}
	c, err := f.config()
	if err != nil {
		s.jsonError(w, rc, http.StatusBadRequest, "err_network", err.Error())
		return
	}
	if err := s.cfg.Network.SaveNetwork(c); err != nil {
		s.jsonError(w, rc, http.StatusInternalServerError, "err_internal", err.Error())
		return
	}
	s.auditAppend(r, rc, audit.Change, "", "uplink network for the next boot: "+c.String())
	writeJSON(w, http.StatusOK, map[string]any{"message": tr(rc.lang, "saved_network"), "saved": formOf(c)})
}

// uplinkAddrs lists the interface's IPv4 addresses now ("10.0.2.15/24").
func uplinkAddrs(name string) []string {
	out := []string{}
	if name == "" {
		return out
	}
	for _, p := range boxname.Addresses(name) {
		out = append(out, p.String())
	}
	return out
}
