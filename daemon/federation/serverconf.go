package federation

import (
	"fmt"
	"strings"
)

// BoxUser is one box's user on the district's NATS server: its NKey
// public key (U…), made from the seed the technician types into the box.
type BoxUser struct {
	Box  string
	NKey string
}

// ServerConfig writes the recommended nats-server configuration of the
// district: JetStream in storeDir, one account holding the district
// service user (everything) and one user per box restricted to
// BoxPermissions. tlsCert/tlsKey, when set, make TLS required.
func ServerConfig(listen, storeDir, districtUser, districtPassword string, boxes []BoxUser, tlsCert, tlsKey string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %q\n", listen)
	fmt.Fprintf(&b, "jetstream { store_dir: %q }\n", storeDir)
	if tlsCert != "" {
		fmt.Fprintf(&b, "tls { cert_file: %q, key_file: %q }\n", tlsCert, tlsKey)
	}
	b.WriteString("accounts {\n  DISTRICT {\n    jetstream: enabled\n    users: [\n")
	fmt.Fprintf(&b, "      { user: %q, password: %q }\n", districtUser, districtPassword)
	for _, u := range boxes {
		if !ValidBoxID(u.Box) || !strings.HasPrefix(u.NKey, "U") || len(u.NKey) != 56 {
			return "", fmt.Errorf("box %q with NKey %q: want a box ID and a user NKey (U…, 56 characters)", u.Box, u.NKey)
		}
		pub, sub := BoxPermissions(u.Box)
		fmt.Fprintf(&b, "      { nkey: %q, permissions: { publish: { allow: %s }, subscribe: { allow: %s }, allow_responses: true } }\n",
			u.NKey, list(pub), list(sub))
	}
	b.WriteString("    ]\n  }\n}\n")
	return b.String(), nil
}

func list(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
