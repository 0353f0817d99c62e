package dashboard_test

import (
	"github.com/go-git/go-git/v5/plumbing"
	"net/http"
	"net/http/httptest"
)

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func loopbackRequest(method, path string) *http.Request {
	r := httptest.NewRequest(method, "http://127.0.0.1"+path, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	return r
}

func plumbingHash(s string) plumbing.Hash { return plumbing.NewHash(s) }
