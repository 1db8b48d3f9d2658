package admin

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestHealthz(t *testing.T) {
	var healthErr error
	h := Handler(Options{Health: func() error { return healthErr }})
	if code, body := get(t, h, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("healthy: got %d %q", code, body)
	}
	healthErr = errors.New("broker: metadata log\nis not writable")
	code, body := get(t, h, "/healthz")
	if code != http.StatusServiceUnavailable || body != "broker: metadata log is not writable\n" {
		t.Fatalf("unhealthy: got %d %q", code, body)
	}
	if code, _ := get(t, Handler(Options{}), "/healthz"); code != http.StatusOK {
		t.Fatalf("no health func: got %d", code)
	}
}

func TestMetricsMergesRuntimeCollectors(t *testing.T) {
	for _, tc := range []struct {
		name            string
		nodeHasRuntime  bool
		wantNodeCounter bool
	}{
		{name: "node without runtime collectors", wantNodeCounter: true},
		{name: "node with runtime collectors", nodeHasRuntime: true, wantNodeCounter: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: "gregor_test_requests_total", Help: "test"})
			c.Add(3)
			reg.MustRegister(c)
			if tc.nodeHasRuntime {
				reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			}
			code, body := get(t, Handler(Options{Registry: reg}), "/metrics")
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, body)
			}
			for _, want := range []string{"gregor_test_requests_total 3", "go_goroutines "} {
				if !strings.Contains(body, want) {
					t.Errorf("metrics lack %q", want)
				}
			}
			if n := strings.Count(body, "# TYPE go_goroutines "); n != 1 {
				t.Errorf("go_goroutines described %d times", n)
			}
		})
	}
	if code, body := get(t, Handler(Options{}), "/metrics"); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("nil registry: %d", code)
	}
}

func TestPprofOnlyWhenEnabled(t *testing.T) {
	if code, _ := get(t, Handler(Options{}), "/debug/pprof/"); code != http.StatusNotFound {
		t.Fatalf("pprof off: got %d", code)
	}
	if code, _ := get(t, Handler(Options{Pprof: true}), "/debug/pprof/"); code != http.StatusOK {
		t.Fatalf("pprof on: got %d", code)
	}
}

func TestListenServeClose(t *testing.T) {
	s, err := Listen(Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + s.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if s.Err() != nil {
		t.Fatalf("Err after Close: %v", s.Err())
	}
	if _, err := http.Get("http://" + s.Addr().String() + "/healthz"); err == nil {
		t.Fatal("still serving after Close")
	}
}

func TestListenBadAddr(t *testing.T) {
	if _, err := Listen(Options{Addr: "127.0.0.1:notaport"}); err == nil {
		t.Fatal("want an error")
	}
}
