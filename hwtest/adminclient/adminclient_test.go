package adminclient

import "testing"

func TestParseConsole(t *testing.T) {
	console := "matthan: [  5.080] daemon    ok\r\n" +
		"matthand| matthand: admin page: https://<box-ip>:8443/ (HTTP <box-ip>:8080 redirects there)\r\n" +
		"matthand| matthand: HTTPS certificate SHA-256: 2A:A9:D9:FE:90:27:FA:95:30:BB:34:26:03:29:8E:D5:AD:06:45:01:7C:1D:2E:6E:C7:4C:38:91:8A:9F:C4:24\r\n" +
		"matthand| matthand: setup code: 9J3J-GLFC-FC62 (mã cài đặt lần đầu / first visitor creates the technician account)\r\n"
	for _, tt := range []struct{ name, got, want string }{
		{"setup code", SetupCode(console), "9J3J-GLFC-FC62"},
		{"fingerprint", Fingerprint(console), "2A:A9:D9:FE:90:27:FA:95:30:BB:34:26:03:29:8E:D5:AD:06:45:01:7C:1D:2E:6E:C7:4C:38:91:8A:9F:C4:24"},
		{"admin URL", AdminURL(console), "https://<box-ip>:8443"},
		{"no code", SetupCode("matthand ready"), ""},
	} {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}
