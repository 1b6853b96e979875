package onvif

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

const sampleDateTime = `<?xml version="1.0"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><SOAP-ENV:Body><tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType><tt:UTCDateTime><tt:Time><tt:Hour>23</tt:Hour><tt:Minute>59</tt:Minute><tt:Second>30</tt:Second></tt:Time><tt:Date><tt:Year>2026</tt:Year><tt:Month>12</tt:Month><tt:Day>6</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>`

const sampleFault = `<?xml version="1.0"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error"><env:Body><env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>ter:NotAuthorized</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">Sender not Authorized</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>`

func TestParseReplies(t *testing.T) {
	r, err := Parse[systemDateAndTimeResponse]([]byte(sampleDateTime))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.cameraUTC(); err != nil || !got.Equal(time.Date(2026, 12, 6, 23, 59, 30, 0, time.UTC)) {
		t.Errorf("camera time %v %v", got, err)
	}
	if _, err := Parse[systemDateAndTimeResponse]([]byte(sampleFault)); !IsAuthFault(err) {
		t.Errorf("fault: %v", err)
	}
	soap11 := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client.NotAuthorized</faultcode><faultstring>x</faultstring></s:Fault></s:Body></s:Envelope>`
	if _, err := Parse[deviceInformationResponse]([]byte(soap11)); !IsAuthFault(err) {
		t.Errorf("SOAP 1.1 fault: %v", err)
	}
	for _, bad := range []string{"", "garbage", "<a/>", "<Envelope><Body/></Envelope>", strings.Repeat("<a>", 10000)} {
		if _, err := Parse[profilesResponse]([]byte(bad)); err == nil {
			t.Errorf("%.20q parsed", bad)
		}
	}
}

func FuzzParseSOAP(f *testing.F) {
	f.Add([]byte(sampleDateTime))
	f.Add([]byte(sampleFault))
	f.Add([]byte(`<e:Envelope xmlns:e="x"><e:Body><r><Profiles token="a"><Name>m</Name><VideoEncoderConfiguration><Resolution><Width>1</Width><Height>2</Height></Resolution></VideoEncoderConfiguration></Profiles></r></e:Body></e:Envelope>`))
	f.Add([]byte(`<Envelope><Body><r><MediaUri><Uri>rtsp://0.0.0.0:554/a</Uri></MediaUri></r></Body></Envelope>`))
	f.Add([]byte(`<Envelope><Body><r><Capabilities><Media><XAddr>http://0.0.0.0/m</XAddr></Media></Capabilities></r></Body></Envelope>`))
	c := &Client{Device: "http://10.0.0.5/onvif/device_service"}
	c.init()
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := Parse[systemDateAndTimeResponse](b); err == nil {
			r.cameraUTC()
		}
		if r, err := Parse[profilesResponse](b); err == nil {
			_ = len(r.Profiles)
		}
		if r, err := Parse[streamURIResponse](b); err == nil {
			if u, err := c.fixAddr(r.MediaURI.URI, "rtsp"); err == nil {
				pu, err := url.Parse(u)
				if err != nil {
					t.Fatalf("fixed address unreadable: %q", u)
				}
				if a, err := netip.ParseAddr(pu.Hostname()); (err == nil && a.IsUnspecified()) || pu.Hostname() == "" {
					t.Fatalf("unspecified host kept: %q", u)
				}
			}
		}
		if r, err := Parse[capabilitiesResponse](b); err == nil {
			c.fixAddr(r.Capabilities.Media.XAddr, "http", "https")
		}
		Parse[deviceInformationResponse](b)
		Parse[servicesResponse](b)
	})
}

func FuzzParseChallenge(f *testing.F) {
	f.Add(`Digest realm="IP Camera(C4262)", qop="auth", nonce="4e6a4d354d6a55324d44493a", opaque="", algorithm=MD5`)
	f.Add(`Basic realm="x"`)
	f.Add(`Digest nonce=abc, qop=auth-int`)
	f.Fuzz(func(t *testing.T, h string) {
		c, ok := ParseChallenge(h)
		if ok {
			if c.Nonce == "" {
				t.Fatal("challenge without nonce accepted")
			}
			c.Authorization("admin", "pw", "POST", "/onvif/device_service")
		}
	})
}

func TestFixAddr(t *testing.T) {
	c := &Client{Device: "http://10.0.0.5:8080/onvif/device_service"}
	c.init()
	for _, tt := range []struct{ in, want string }{
		{"http://0.0.0.0/onvif/media", "http://10.0.0.5/onvif/media"},
		{"http://0.0.0.0:80/onvif/media", "http://10.0.0.5:80/onvif/media"},
		{"http://[::]:80/onvif/media", "http://10.0.0.5:80/onvif/media"},
		{"http://10.0.0.6/onvif/media", "http://10.0.0.6/onvif/media"},
		{"rtsp://0.0.0.0:554/Streaming/Channels/101", ""},
	} {
		got, err := c.fixAddr(tt.in, "http")
		if tt.want == "" {
			if err == nil {
				t.Errorf("%s accepted: %s", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("fixAddr(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}
