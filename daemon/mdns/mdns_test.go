package mdns

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// loopbackResponder answers from the loopback interface's addresses
// without opening a socket: the record logic alone.
func loopbackResponder(t testing.TB) *Responder {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skip("no loopback interface")
	}
	return &Responder{o: Options{Interface: "lo", Host: "matthan-3456", Port: 8443}.withDefaults(), ifi: lo}
}

func TestAnswer(t *testing.T) {
	r := loopbackResponder(t)
	for _, tt := range []struct {
		name  string
		qtype uint16
		class uint16
		want  []string // record types with their data, in order
	}{
		{"matthan-3456.local.", dns.TypeA, dns.ClassINET, []string{"A 127.0.0.1"}},
		{"MATTHAN-3456.LOCAL.", dns.TypeA, dns.ClassINET, []string{"A 127.0.0.1"}},
		{"matthan-3456.local.", dns.TypeA, dns.ClassINET | 1<<15, []string{"A 127.0.0.1"}}, // QU bit
		{"matthan-3456.local.", dns.TypeA, dns.ClassCHAOS, nil},
		{"matthan-3456.local.", dns.TypeMX, dns.ClassINET, nil},
		{"matthan-0000.local.", dns.TypeA, dns.ClassINET, nil},
		{"_https._tcp.local.", dns.TypePTR, dns.ClassINET, []string{"PTR", "SRV 8443 matthan-3456.local.", "A 127.0.0.1", "TXT path=/"}},
		{"_HTTPS._tcp.local.", dns.TypePTR, dns.ClassINET, []string{"PTR", "SRV 8443 matthan-3456.local.", "A 127.0.0.1", "TXT path=/"}},
		{"_services._dns-sd._udp.local.", dns.TypePTR, dns.ClassINET, []string{"PTR"}},
		{"Mắt Thần matthan-3456._https._tcp.local.", dns.TypeSRV, dns.ClassINET, []string{"SRV 8443 matthan-3456.local.", "A 127.0.0.1"}},
		{"_http._tcp.local.", dns.TypePTR, dns.ClassINET, nil},
	} {
		q := new(dns.Msg)
		q.Question = []dns.Question{{Name: tt.name, Qtype: tt.qtype, Qclass: tt.class}}
		var got []string
		for _, rr := range r.answer(q) {
			switch v := rr.(type) {
			case *dns.A:
				got = append(got, "A "+v.A.String())
			case *dns.SRV:
				got = append(got, "SRV "+itoa(v.Port)+" "+v.Target)
			case *dns.TXT:
				got = append(got, "TXT "+strings.Join(v.Txt, ","))
			case *dns.PTR:
				got = append(got, "PTR")
			default:
				got = append(got, dns.TypeToString[rr.Header().Rrtype])
			}
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s %s: got %q, want %q", tt.name, dns.TypeToString[tt.qtype], got, tt.want)
		}
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

func TestReplyLegacyUnicastKeepsIDAndQuestion(t *testing.T) {
	q := new(dns.Msg)
	q.SetQuestion("matthan-3456.local.", dns.TypeA)
	if allUnicast(q) {
		t.Error("a plain question counted as QU")
	}
	q.Question[0].Qclass |= 1 << 15
	if !allUnicast(q) {
		t.Error("QU question not seen")
	}
}

func TestMulticastAtMostOncePerSecond(t *testing.T) {
	r := loopbackResponder(t)
	q := new(dns.Msg)
	q.SetQuestion("matthan-3456.local.", dns.TypeA)
	other := new(dns.Msg)
	other.SetQuestion("_https._tcp.local.", dns.TypePTR)
	t0 := time.Unix(1000, 0)
	for _, tt := range []struct {
		q    *dns.Msg
		at   time.Duration
		want bool
	}{
		{q, 0, true},
		{q, 300 * time.Millisecond, false},
		{other, 400 * time.Millisecond, true},
		{q, 999 * time.Millisecond, false},
		{q, 1000 * time.Millisecond, true},
	} {
		if got := r.mayMulticast(tt.q, t0.Add(tt.at)); got != tt.want {
			t.Errorf("%s at +%s: %v, want %v", tt.q.Question[0].Name, tt.at, got, tt.want)
		}
	}
}

func TestStartRefusesBadOptions(t *testing.T) {
	for _, o := range []Options{
		{Host: "matthan-3456", Port: 8443},
		{Interface: "lo", Port: 8443},
		{Interface: "lo", Host: "matthan-3456.local", Port: 8443},
		{Interface: "lo", Host: "matthan-3456"},
		{Interface: "no-such-if0", Host: "matthan-3456", Port: 8443},
	} {
		if r, err := Start(context.Background(), o); err == nil {
			r.Close()
			t.Errorf("Start(%+v) accepted", o)
		}
	}
}

// FuzzAnswer: any packet that unpacks as a query gets an answer or
// none, never a panic.
func FuzzAnswer(f *testing.F) {
	q := new(dns.Msg)
	q.SetQuestion("matthan-3456.local.", dns.TypeA)
	b, _ := q.Pack()
	f.Add(b)
	q.SetQuestion("_https._tcp.local.", dns.TypeANY)
	b, _ = q.Pack()
	f.Add(b)
	r := loopbackResponder(f)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var m dns.Msg
		if m.Unpack(pkt) != nil {
			return
		}
		for _, rr := range r.answer(&m) {
			if _, err := dns.NewRR(rr.String()); err != nil && rr.Header().Rrtype == dns.TypeA {
				t.Errorf("answer does not print as a record: %v", err)
			}
		}
	})
}
