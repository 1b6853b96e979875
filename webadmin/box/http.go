package box

import (
	"net/http"

	"github.com/matthan/matthan/webadmin"
)

// plainHTTP is the plain-HTTP listener's handler: /api/health answers (init
// and the self-test ask it over plain TCP), everything else redirects to
// the HTTPS port.
func plainHTTP(wa http.Handler, httpsPort string) http.Handler {
	redirect := webadmin.RedirectToHTTPS(httpsPort)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/health" && r.Method == http.MethodGet {
			wa.ServeHTTP(w, r)
			return
		}
		redirect.ServeHTTP(w, r)
	})
}
